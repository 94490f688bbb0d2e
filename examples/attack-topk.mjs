// Ghorbani et al.'s top-k attack on an explanation: perturb the input within an L∞ ball of radius ε so that
// the saliency map's top-k pixels lose their attribution mass while the prediction stays. Runs on the example
// LeNet (softplus, so its gradients are curved and need no surrogate) and its first input, prints the top-k
// intersection and Kendall's τ between the clean and attacked maps, and writes both maps as PNG files.
// Usage: node scripts/gpu-env.mjs node examples/attack-topk.mjs [--cpu] [--method smoothGrad] [--iterations 20]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  attackExplanation,
  createEngine,
  heatmapPng,
  kendallTau,
  loadModel,
  parseSafetensors,
  topKIntersection,
} from '../dist/smoothgeo.node.mjs';

const { values: args } = parseArgs({
  options: {
    cpu: { type: 'boolean', default: false },
    method: { type: 'string', default: 'saliency' },
    iterations: { type: 'string', default: '20' },
    epsilon: { type: 'string', default: '0.03' },
    k: { type: 'string', default: '78' }, // 10% of 28×28
  },
});
const here = new URL('.', import.meta.url);
const engine = await createEngine({ backend: args.cpu ? 'cpu' : 'auto' });
console.log(`engine: ${engine.describe()}`);
const bytes = readFileSync(new URL('models/lenet.safetensors', here));
const model = await loadModel(engine, JSON.parse(readFileSync(new URL('models/lenet.json', here), 'utf8')), bytes, {
  prefix: 'param.',
});
const all = parseSafetensors(bytes).tensors.get('input.x');
const x = { shape: [1, 1, 28, 28], data: all.data.slice(0, 784) };

const k = Number(args.k);
const explain =
  args.method === 'smoothGrad' ? { method: 'smoothGrad', sigma: 0.1, samples: 16 } : { method: args.method };
const t0 = performance.now();
const r = await attackExplanation(model, x, {
  attack: 'topk',
  explain,
  epsilon: Number(args.epsilon),
  iterations: Number(args.iterations),
  k,
  seed: 1,
});
const seconds = (performance.now() - t0) / 1000;

const before = topKIntersection(r.originalMap, r.originalMap, k)[0];
const after = topKIntersection(r.originalMap, r.attackedMap, k)[0];
const tau = kendallTau(r.originalMap, r.attackedMap)[0];
let linf = 0;
r.adversarial.data.forEach((v, i) => {
  linf = Math.max(linf, Math.abs(v - x.data[i]));
});
console.log(`method ${args.method}, ε = ${args.epsilon} (L∞), ${args.iterations} iterations, k = ${k}, seed ${r.seed}`);
console.log(`top-${k} intersection: before ${before.toFixed(3)}, after ${after.toFixed(3)}`);
console.log(`Kendall τ-b (clean vs attacked map): before 1.000, after ${tau.toFixed(3)}`);
console.log(
  `label preserved: ${r.labelPreserved[0]}, best iterate ${r.bestIteration[0]}, max |δ| = ${linf.toFixed(4)}, ${seconds.toFixed(1)} s`,
);

const out = new URL('../out/', here);
mkdirSync(out, { recursive: true });
writeFileSync(
  new URL('attack-map-before.png', out),
  heatmapPng({ shape: [28, 28], data: r.originalMap.data }, { palette: 'sequential' }),
);
writeFileSync(
  new URL('attack-map-after.png', out),
  heatmapPng({ shape: [28, 28], data: r.attackedMap.data }, { palette: 'sequential' }),
);
console.log('wrote out/attack-map-before.png and out/attack-map-after.png');
engine.dispose();
