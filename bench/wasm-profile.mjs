// Where SmoothGrad-50 spends its time on the wasm backend, per backend primitive, with 1 and 2 threads: every
// method of the backend is wrapped with performance.now (an inner primitive's time is also its caller's), and
// the mean per call over many calls is printed; then the thread pool's fork-join round trip (an empty kernel on
// 2 threads). For finding the serial stages; bench/wasm.mjs has the ratios.
//
//   node build.mjs && node bench/wasm-profile.mjs [--models lenet,mlp] [--batches 1,16]
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { importSmoothgeo, log, makeBatch, parseBenchArgs, ROOT } from './harness.mjs';
import { loadOracleCase } from './peers.mjs';

const ORACLE = join(ROOT, 'test', 'fixtures', 'oracle');

/** Wraps every method of the backend's class on this instance; returns the per-name ms accumulator. */
function instrument(be) {
  const acc = {};
  const proto = Object.getPrototypeOf(be);
  for (const k of Object.getOwnPropertyNames(proto)) {
    const f = Object.getOwnPropertyDescriptor(proto, k)?.value;
    if (k === 'constructor' || typeof f !== 'function' || k === 'parallel' || k === 'alloc' || k === 'views') continue;
    be[k] = function (...a) {
      const t0 = performance.now();
      try {
        return f.apply(this, a);
      } finally {
        acc[k] = (acc[k] ?? 0) + performance.now() - t0;
      }
    };
  }
  return acc;
}

const { values: opts, command } = parseBenchArgs('bench/wasm-profile.mjs', {
  models: { type: 'string', default: 'lenet,mlp' },
  batches: { type: 'string', default: '1,16' },
});
const { createEngine, loadModel, smoothGrad } = await importSmoothgeo();
for (const name of opts.models.split(',')) {
  const c = await loadOracleCase(name, ORACLE);
  const bytes = new Uint8Array(await readFile(join(ORACLE, `${name}.safetensors`)));
  for (const B of opts.batches.split(',').map(Number)) {
    const b = makeBatch(c, B);
    const res = {};
    for (const threads of [1, 2]) {
      const engine = await createEngine({ backend: 'wasm', threads });
      const model = await loadModel(engine, c.model, bytes, { prefix: 'param.' });
      const acc = instrument(await engine.backendForCall());
      const run = () => smoothGrad(model, b.x, { target: b.target, sigma: 0.15, samples: 50, seed: 1 });
      for (let i = 0; i < 5; i++) await run();
      for (const k in acc) delete acc[k];
      const reps = Math.max(5, Math.round(200 / B));
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) await run();
      res[threads] = { ms: (performance.now() - t0) / reps, acc };
      for (const k in acc) acc[k] /= reps;
      engine.dispose();
    }
    log(
      `\n${name} SmoothGrad-50 B=${B}: 1 thread ${res[1].ms.toFixed(2)} ms, 2 threads ${res[2].ms.toFixed(2)} ms (${(res[1].ms / res[2].ms).toFixed(2)}x)`,
    );
    const keys = Object.keys(res[1].acc).sort((x, y) => res[1].acc[y] - res[1].acc[x]);
    for (const k of keys.filter((k) => res[1].acc[k] >= 0.01))
      log(
        `  ${k.padEnd(22)} ${res[1].acc[k].toFixed(3).padStart(8)} ${(res[2].acc[k] ?? 0).toFixed(3).padStart(8)} ms`,
      );
  }
}
// The fork-join round trip: an empty kernel (count 0) on both threads, many times.
const engine = await createEngine({ backend: 'wasm', threads: 2 });
const be = await engine.backendForCall();
const ts = [];
for (let i = 0; i < 20_000; i++) {
  const t0 = performance.now();
  be.pool.run('activation', 2, () => [0, 1, 0, 0, 0, 0, 0], be.k.activation);
  ts.push(performance.now() - t0);
}
ts.sort((x, y) => x - y);
const us = (q) => (1000 * ts[Math.floor(q * (ts.length - 1))]).toFixed(1);
log(`\nfork-join round trip, 2 threads, empty kernel: min ${us(0)} µs, median ${us(0.5)} µs, p90 ${us(0.9)} µs`);
engine.dispose();
log(`\ncommand: ${command}`);
process.exit(0);
