// Cost of one training step of the LeNet in examples/models (batch 64, real MNIST digits): natural (NAT),
// SSR with 1–3 power iterations, Madry with 7 PGD steps; the ratio to a natural step. Steps are timed
// in rounds that alternate the kinds, so load from other processes hits them alike.
// Usage: node scripts/gpu-env.mjs node bench/train-step.mjs [--backend cpu|webgpu] [--steps N]
import { readFileSync } from 'node:fs';
import { createEngine, initModel, loadMnist, train } from '../dist/smoothgeo.node.mjs';

const arg = (name, def) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : def; };
const backend = arg('--backend', 'cpu'), steps = Number(arg('--steps', 4)), rounds = Number(arg('--rounds', 3));
const engine = await createEngine({ backend });
console.log(`engine: ${engine.describe()}`);
const spec = JSON.parse(readFileSync(new URL('../examples/models/lenet-relu.json', import.meta.url), 'utf8'));
const { train: data } = await loadMnist({ seed: 1 });
const kinds = {
  nat: { kind: 'none' },
  'ssr (1 power iteration)': { kind: 'ssr', alpha: 0.3, iterations: 1 },
  'ssr (2 power iterations)': { kind: 'ssr', alpha: 0.3, iterations: 2 },
  'ssr (3 power iterations)': { kind: 'ssr', alpha: 0.3, iterations: 3 },
  'madry (7 PGD steps)': { kind: 'madry', epsilon: 0.3, step: 0.1, iterations: 7 },
};
const times = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
for (let r = 0; r < rounds + 1; r++) {
  for (const [name, regularizer] of Object.entries(kinds)) {
    const { model } = initModel(engine, spec, { seed: 1 });
    const t0 = performance.now();
    await train(model, data, { epochs: 1, batchSize: 64, maxSteps: steps, seed: 1, regularizer, reportEvery: steps, progress: false });
    if (r > 0) times[name].push((performance.now() - t0) / steps); // round 0 warms up (shader compilation on webgpu)
  }
}
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const nat = median(times.nat);
for (const [name, v] of Object.entries(times)) console.log(`${name.padEnd(26)} ${median(v).toFixed(0).padStart(6)} ms/step  ${(median(v) / nat).toFixed(2)}× a natural step`);
engine.dispose();
