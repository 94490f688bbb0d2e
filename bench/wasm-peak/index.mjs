// bench/wasm-peak: compiles peak.ts with AssemblyScript and measures the GFLOP/s of each of its loop shapes (best
// of many short runs, after warm-up so V8's optimising tier runs them); the peak is the best shape's rate.
// Run alone: node bench/wasm-peak/index.mjs
import asc from 'assemblyscript/asc';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The loop shapes of peak.ts (exports), each f32x4.mul and f32x4.add only. */
export const SHAPES = ['chains12', 'chains12x2', 'chains13', 'chains16', 'chains24', 'split13', 'gemm4x8', 'acc12'];

let instance = null;
async function compile() {
  let bytes;
  const r = await /** @type {any} */ (asc).main(
    [join(HERE, 'peak.ts'), '-O3', '--noAssert', '--runtime', 'stub', '--enable', 'simd', '--outFile', 'peak.wasm'],
    {
      writeFile: (name, contents) => {
        if (name.endsWith('.wasm')) bytes = contents;
      },
    },
  );
  if (r.error) throw r.error;
  const abort = () => {
    throw new Error('abort');
  };
  return (await WebAssembly.instantiate(bytes, { env: { abort } })).instance;
}

/**
 * GFLOP/s of every shape and the best: `{ gflops, shape, shapes: { name: GFLOP/s } }`. Many short runs per
 * shape (~0.5 ms each), shapes in turn, the best kept: on a machine shared with other jobs most runs are
 * slowed by them, the best is the core's own rate.
 * @param {{ rounds?: number }} [opts]
 */
export async function measurePeak({ rounds = 40 } = {}) {
  instance ??= await compile();
  const ex = /** @type {Record<string, any>} */ (instance.exports);
  const iters = 100_000;
  for (const s of SHAPES) for (let i = 0; i < 5; i++) ex[s](iters / 10); // tier up
  /** @type {Record<string, number>} */
  const shapes = {};
  for (let round = 0; round < rounds; round++) {
    for (const s of SHAPES) {
      for (let k = 0; k < 5; k++) {
        const t0 = performance.now();
        ex[s](iters);
        const ms = performance.now() - t0;
        const gflops = (ex.FLOP.value * iters) / (ms * 1e6);
        shapes[s] = Math.max(shapes[s] ?? 0, gflops);
      }
    }
  }
  const shape = SHAPES.reduce((a, b) => (shapes[b] > shapes[a] ? b : a));
  return { gflops: shapes[shape], shape, shapes };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const p = await measurePeak();
  for (const s of SHAPES) console.log(`${s.padEnd(12)} ${p.shapes[s].toFixed(1)} GFLOP/s`);
  console.log(`wasm SIMD128 mul+add peak: ${p.gflops.toFixed(1)} GFLOP/s (${p.shape})`);
}
