import { fail } from './errors.js';

/**
 * Work limits: a call whose estimated work is past one of these is refused with LIMIT_EXCEEDED before any
 * work starts (so `samples: 1e9` fails at once instead of running for ever). They are far above what the
 * library's uses need — a few thousand samples, a few hundred iterations — and below what would run for
 * hours or exhaust memory. Every one is checked through `checkWork`, the one place that refuses work.
 * Long-running calls also take an AbortSignal (`signal` option) to stop them earlier.
 */
export const LIMITS = Object.freeze({
  /** Gradient evaluations (examples × samples × path steps) in one attribution call. */
  gradientEvaluations: 2 ** 22,
  /** Hessian-vector products (examples × products per example) in one curvature call. */
  hessianProducts: 2 ** 20,
  /** Float64 values a curvature call keeps on the host (Lanczos bases: examples × probes × steps × dimension). */
  hostVectorValues: 2 ** 27,
  /** Iterations of an attack (pgd, fgsm, attackExplanation). */
  attackIterations: 100_000,
  /** Gradient evaluations of a whole explanation attack (iterations × the map's samples × examples × 3). */
  attackEvaluations: 2 ** 24,
  /** Rows (examples × (samples + 1)) a perturbation metric gives `explain`. */
  metricRows: 2 ** 22,
  /** Input values of one `explain` call of a perturbation metric (rows × values per row). */
  metricBatchValues: 2 ** 26,
  /** Pixels of a rendered PNG (width × height). */
  imagePixels: 2 ** 26,
  /** Kernel terms of a density plot (nodes × bins). */
  plotTerms: 2 ** 30,
  /** Largest tensor on the cpu backend, in bytes of float32 values (the float64 reference holds twice that). */
  cpuTensorBytes: 2 ** 28,
  /** Largest tensor on the wasm backend, in bytes. */
  wasmTensorBytes: 2 ** 28,
  /** The wasm backend's linear memory at most (wasm32 addresses 4 GiB; 2 GiB keeps typed-array views safe everywhere). */
  wasmMemoryBytes: 2 ** 31,
  /** Multiply-adds of one cpu-backend kernel (a GEMM or convolution). */
  cpuMultiplyAdds: 2 ** 34,
});

export type LimitName = keyof typeof LIMITS;

/** Refuses `amount` of work past LIMITS[limit], naming what it is and how to get under it. */
export function checkWork(limit: LimitName, amount: number, what: string, hint: string): void {
  if (!(amount <= LIMITS[limit])) {
    fail(
      'LIMIT_EXCEEDED',
      `${what} is ${formatCount(amount)}, past the limit of ${formatCount(LIMITS[limit])} (LIMITS.${limit}); ${hint}`,
    );
  }
}

function formatCount(n: number): string {
  return Number.isFinite(n) && n < 1e15 ? Math.round(n).toLocaleString('en-US') : String(n);
}
