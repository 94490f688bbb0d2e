// Cost of one training step of the LeNet in examples/models (batch 64, real MNIST digits): natural (NAT),
// SSR with 1–3 power iterations, Madry with 7 PGD steps; the ratio to a natural step. Steps are timed
// in rounds that alternate the kinds, so load from other processes hits them alike; a run's one-off
// setup is not charged to its steps (see `run`).
// Usage: node scripts/gpu-env.mjs node bench/train-step.mjs [--backend cpu|webgpu|wasm] [--steps N] [--rounds N]
//   [--kinds nat,ssr1,ssr2,ssr3,madry] (a subset, to spare a loaded machine; nat is always timed)
import { readFileSync } from 'node:fs';
import { importSmoothgeo, median, parseBenchArgs } from './harness.mjs';

const { values } = parseBenchArgs('bench/train-step.mjs', {
  backend: { type: 'string', default: 'cpu' },
  steps: { type: 'string', default: '4' },
  rounds: { type: 'string', default: '3' },
  kinds: { type: 'string', default: 'nat,ssr1,ssr2,ssr3,madry' },
});
const backend = values.backend,
  steps = Number(values.steps),
  rounds = Number(values.rounds);
const { createEngine, initModel, loadMnist, train } = await importSmoothgeo();
const engine = await createEngine({ backend });
console.log(`engine: ${engine.describe()}`);
const spec = JSON.parse(readFileSync(new URL('../examples/models/lenet-relu.json', import.meta.url), 'utf8'));
const { train: data } = await loadMnist({ seed: 1 });
const all = {
  nat: ['nat', { kind: 'none' }],
  ssr1: ['ssr (1 power iteration)', { kind: 'ssr', alpha: 0.3, iterations: 1 }],
  ssr2: ['ssr (2 power iterations)', { kind: 'ssr', alpha: 0.3, iterations: 2 }],
  ssr3: ['ssr (3 power iterations)', { kind: 'ssr', alpha: 0.3, iterations: 3 }],
  madry: ['madry (7 PGD steps)', { kind: 'madry', epsilon: 0.3, step: 0.1, iterations: 7 }],
};
const chosen = new Set(['nat', ...values.kinds.split(',').map((k) => k.trim())]);
for (const k of chosen)
  if (!(k in all)) {
    console.error(`bench/train-step.mjs: unknown kind '${k}' in --kinds; known: ${Object.keys(all).join(', ')}`);
    process.exit(2);
  }
const kinds = Object.fromEntries(
  Object.entries(all)
    .filter(([k]) => chosen.has(k))
    .map(([, v]) => v),
);
const times = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
// A step's cost is the difference between a run of 1 + steps steps and a run of 1 step: each train() call
// also pays its setup (SSR's store of start vectors, N × 784 Philox Gaussians drawn and uploaded once per
// run), which a real run spreads over thousands of steps and a 4-step timing would charge to each step.
const run = async (regularizer, maxSteps) => {
  const { model } = initModel(engine, spec, { seed: 1 });
  const t0 = performance.now();
  await train(model, data, {
    epochs: 1,
    batchSize: 64,
    maxSteps,
    seed: 1,
    regularizer,
    reportEvery: maxSteps,
    progress: false,
  });
  return performance.now() - t0;
};
for (let r = 0; r < rounds + 1; r++) {
  for (const [name, regularizer] of Object.entries(kinds)) {
    const one = await run(regularizer, 1);
    const more = await run(regularizer, 1 + steps);
    if (r > 0) times[name].push((more - one) / steps); // round 0 warms up (shader compilation on webgpu)
  }
}
const nat = median(times.nat);
for (const [name, v] of Object.entries(times))
  console.log(
    `${name.padEnd(26)} ${median(v).toFixed(0).padStart(6)} ms/step  ${(median(v) / nat).toFixed(2)}× a natural step`,
  );
engine.dispose();
