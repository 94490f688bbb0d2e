// ResNet-18 (torchvision's architecture and parameter names: conv1, bn1, layer1.0.conv1, …, fc) at
// 1×3×224×224 with random weights: forward, input gradient, input HVP and SmoothGrad with 16 samples, on the
// default engine, SmoothGrad within a 256 MiB activation budget (maxBytes). Prints each call's time (one
// warm-up call first; the median of --repeats) and the engine's peak GPU memory (engine.memory().peakBytes
// after resetPeakMemory(): buffers its pool holds, weights included) per call.
//   node build.mjs && node scripts/gpu-env.mjs node bench/resnet18.mjs [--cpu] [--repeats 1] [--size 224]
//     [--only forward,gradient,hvp,smoothgrad] [--warmup yes|no]
import { parseArgs } from 'node:util';
import { importSmoothgeo } from './harness.mjs';
import { randomWeights, resnet18Spec, weightShapes } from './resnet18-spec.mjs';

const { createEngine, encodeSafetensors, loadModel, smoothGrad } = await importSmoothgeo();

const { values: args } = parseArgs({
  options: {
    cpu: { type: 'boolean', default: false },
    repeats: { type: 'string', default: '1' },
    size: { type: 'string', default: '224' },
    // Which rows (forward,gradient,hvp,smoothgrad) and whether each gets an untimed warm-up call first.
    only: { type: 'string', default: 'forward,gradient,hvp,smoothgrad' },
    warmup: { type: 'string', default: 'yes' },
  },
});
const S = Number(args.size);

const engine = await createEngine({ backend: args.cpu ? 'cpu' : 'auto' });
console.log(`engine: ${engine.describe()}`);
const spec = resnet18Spec(S);
const model = await loadModel(engine, spec, encodeSafetensors(randomWeights(weightShapes(spec))));
const r = (() => {
  let a = 7;
  return () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 2 ** 32;
  };
})();
const d = 3 * S * S;
const x = { shape: [1, 3, S, S], data: Float32Array.from({ length: d }, r) };
const v = { shape: [1, 3, S, S], data: Float32Array.from({ length: d }, () => r() - 0.5) };
const target = [0];
const objective = { kind: 'logit', target };
const MAX_BYTES = 256 * 1024 * 1024;

const rows = [];
const wanted = new Set(args.only.split(','));
async function time(key, name, fn) {
  if (!wanted.has(key)) return;
  if (args.warmup === 'yes') await fn(); // warm-up: pipelines compiled, buffers pooled
  const ts = [];
  if (engine.memory()) engine.resetPeakMemory();
  for (let i = 0; i < Number(args.repeats); i++) {
    const t0 = performance.now();
    await fn();
    ts.push((performance.now() - t0) / 1000);
  }
  ts.sort((p, q) => p - q);
  const mem = engine.memory();
  rows.push({ name, seconds: ts[Math.floor(ts.length / 2)], peakMiB: mem ? mem.peakBytes / 2 ** 20 : null });
  console.log(
    `${name.padEnd(28)} ${rows.at(-1).seconds.toFixed(2).padStart(8)} s   peak ${mem ? `${rows.at(-1).peakMiB.toFixed(1)} MiB` : 'n/a (cpu)'}`,
  );
}
console.log(`ResNet-18, 1×3×${S}×${S}, ${Object.keys(model.parameters).length} parameter tensors`);
await time('forward', 'forward', () => model.forward(x));
await time('gradient', 'input gradient (logit)', () => model.inputGradient(x, objective));
await time('hvp', 'input HVP (logit)', () => model.inputHvp(x, v, objective));
await time('smoothgrad', 'SmoothGrad, 16 samples', () =>
  smoothGrad(model, x, { target, sigma: 0.1, samples: 16, seed: 1, maxBytes: MAX_BYTES }),
);
engine.dispose();
