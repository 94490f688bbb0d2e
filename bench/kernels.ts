// Kernel-level benchmarks of smoothgeo internals that the public API does not expose (the tiled GEMM).
// bench/run.mjs bundles this file on the fly with esbuild into dist/bench-kernels.mjs and passes it the
// engine it made with the public bundle; only types come from ../src, the backend is the engine's own.
import type { Engine } from '../src/engine.js';
import type { Backend, BTensor } from '../src/backend/backend.js';

/** A square GEMM C = A·B (n×n, row-major) prepared on the engine's backend: inputs are uploaded once. */
export interface GemmCase {
  n: number;
  /** Records `reps` GEMMs back to back (each into its own output), submits once and reads the last C back. */
  run(reps: number): Promise<Float32Array>;
  /** Frees the inputs. */
  release(): void;
}

export async function prepareGemm(engine: Engine, n: number, a: Float32Array, b: Float32Array): Promise<GemmCase> {
  if (a.length !== n * n || b.length !== n * n) throw new Error(`prepareGemm: inputs must hold ${n}×${n} values`);
  const be: Backend = await engine.backendForCall();
  const A = be.upload(a, [n, n], 'bench A');
  const B = be.upload(b, [n, n], 'bench B');
  // Flush the uploads (a readback of nothing submits what is recorded), so the first timed call does not pay for them.
  await be.read([]);
  return {
    n,
    async run(reps: number): Promise<Float32Array> {
      const outs: BTensor[] = [];
      try {
        for (let i = 0; i < reps; i++) outs.push(be.matmul(A, B, { label: `bench ${n}x${n} #${i}` }));
        const [c] = await be.read([outs[outs.length - 1]]);
        return c instanceof Float32Array ? c : Float32Array.from(c);
      } finally {
        be.release(...outs);
      }
    },
    release(): void {
      be.release(A, B);
    },
  };
}
