// Perturbation-based robustness of an explanation: how much e(x) moves when x does. Model-agnostic:
// `explain` maps a batch of inputs to a batch of maps (any map shape, one row per input row).
//
// Batching: the B original rows (unless `explanation` gives e(x)) and the B·samples perturbed rows are
// evaluated in order, originals first, then example-major (row B + b·samples + s holds sample s of
// example b), in calls of at most `batchSize` rows — one call of B·(samples + 1) rows by default.
//
// Perturbations are Philox4x32-10 draws keyed by `seed`: element i of sample s of example b uses word
// i mod 4 of philox4x32(⌊i/4⌋, s, b, 2, key), i.e. the counter layout of src/noise/philox.ts on stream 2
// (streams 0 and 1 are the smoothing noise), so results do not depend on batchSize and are reproducible
// from the returned seed. The perturbed input is rounded to float32 (what `explain` receives), and every
// input-space distance below is measured on those float32 values.
import { resolveSeed } from '../noise/seed.js';
import { fail } from '../errors.js';
import { choice, int, options as validateOptions, positive, checkpoint, signal, throwIfAborted } from '../validate.js';
import { checkWork } from '../limits.js';
import { philox4x32, seedKey, uniform01, normalFromUniform } from '../noise/philox.js';
import { checkFinite, shapeStr, sizeOf, type Tensor } from '../tensor.js';
import { checkBatch } from './common.js';

/** Maps a batch of inputs [R, ...] to a batch of explanations [R, ...] (same R, any trailing shape). */
export type ExplainFn = (x: Tensor) => Promise<Tensor> | Tensor;

export interface PerturbationMetricResult {
  /** One score per example. */
  values: number[];
  /** The seed the perturbations were drawn with (the one given, or the one drawn). */
  seed: number;
}

interface CommonOptions {
  /** Perturbations per example (default 10). */
  samples?: number;
  /** Integer in [0, 2^53); drawn with crypto.getRandomValues (and returned) when omitted. */
  seed?: number;
  /** Most rows per `explain` call (default: all rows in one call). */
  batchSize?: number;
  /** e(x) when already computed ([B, ...]); otherwise it is computed in the first call. */
  explanation?: Tensor;
  /** Stops the metric (an ABORTED error) when it fires; checked before every `explain` call. */
  signal?: AbortSignal;
}

export interface SensitivityMaxOptions extends CommonOptions {
  /** Half-width of the L∞ ball the perturbations are drawn from (default 0.02, as Captum). */
  radius?: number;
  /** Norm of the flattened explanations (default 'fro', i.e. L2, as Captum's norm_ord). */
  norm?: 'fro' | 1 | 2 | 'inf';
}

export interface AverageSensitivityOptions extends CommonOptions {
  /** Half-width of the L∞ ball (default 0.2, Quantus' lower_bound). */
  radius?: number;
}

export interface LocalLipschitzOptions extends CommonOptions {
  /** Standard deviation of the Gaussian perturbation (default 0.1, Quantus' perturb_std). */
  sigma?: number;
}

/** The metrics' Philox stream (0: smoothing noise, 1: per-sample radius). */
export const METRIC_STREAM = 2;

/**
 * Captum's `sensitivity_max` (Yeh et al. 2019, "On the (In)fidelity and Sensitivity of Explanations"),
 * per example:
 *
 *   max over s < samples of ‖e(x + δ_s) − e(x)‖ / ‖e(x)‖,   δ_s uniform in [−radius, radius]^d,
 *
 * with Captum's defaults (radius 0.02, 10 samples, norm 'fro' = L2 of the flattened map) and its
 * convention that ‖e(x)‖ = 0 divides by 1 instead (Captum replaces a zero norm by 1). `norm` 1 / 'inf'
 * use the L1 / L∞ norm in both numerator and denominator, as Captum's norm_ord does.
 */
const COMMON_KEYS = ['samples', 'seed', 'batchSize', 'explanation', 'signal'];

export async function sensitivityMax(
  explain: ExplainFn,
  x: Tensor,
  options: SensitivityMaxOptions = {},
): Promise<PerturbationMetricResult> {
  options = validateOptions('sensitivityMax', options, [...COMMON_KEYS, 'radius', 'norm']) as SensitivityMaxOptions;
  const radius = positive('sensitivityMax: radius', options.radius, 0.02);
  const norm = choice('sensitivityMax: norm', options.norm, ['fro', 1, 2, 'inf'] as const, 'fro');
  const p = norm === 'inf' ? Infinity : norm === 1 ? 1 : 2;
  return run(explain, x, options, 'uniform', radius, 'max', (e0, e1) => pNorm(e0, e1, p) / nonzero(pNorm(e0, null, p)));
}

/**
 * Quantus' Average Sensitivity (`AvgSensitivity`, Yeh et al. 2019), per example:
 *
 *   mean over s < samples of ‖e(x + δ_s) − e(x)‖₂ / ‖e(x)‖₂,   δ_s uniform in [−radius, radius]^d,
 *
 * i.e. Quantus' defaults (perturb_func uniform_noise with lower_bound = radius = 0.2, similarity_func
 * difference, norm_numerator = norm_denominator = fro_norm of the flattened maps; Quantus ≥ 0.4 divides
 * by ‖e(x)‖, not ‖x‖) with 10 samples by default instead of Quantus' 200. Quantus' optional explanation
 * normalisation / abs are not applied: do them in `explain`. As in sensitivityMax, ‖e(x)‖ = 0 divides by 1.
 */
export async function averageSensitivity(
  explain: ExplainFn,
  x: Tensor,
  options: AverageSensitivityOptions = {},
): Promise<PerturbationMetricResult> {
  options = validateOptions('averageSensitivity', options, [...COMMON_KEYS, 'radius']) as AverageSensitivityOptions;
  const radius = positive('averageSensitivity: radius', options.radius, 0.2);
  return run(
    explain,
    x,
    options,
    'uniform',
    radius,
    'mean',
    (e0, e1) => pNorm(e0, e1, 2) / nonzero(pNorm(e0, null, 2)),
  );
}

/**
 * Quantus' Local Lipschitz Estimate (Alvarez-Melis & Jaakkola 2018, "On the Robustness of
 * Interpretability Methods"), per example:
 *
 *   max over s < samples of ‖e(x) − e(x'_s)‖₂ / ‖x − x'_s‖₂,   x'_s = x + N(0, sigma²·I),
 *
 * (Quantus' defaults: gaussian_noise with perturb_std = sigma = 0.1, perturb_mean 0, Euclidean distance in
 * numerator and denominator; 10 samples by default instead of Quantus' 200). Unlike Quantus no 1e-10 is
 * added to the denominator; a draw with x'_s = x in float32 (practically impossible) is skipped, and an
 * example whose draws are all skipped scores NaN.
 */
export async function localLipschitzEstimate(
  explain: ExplainFn,
  x: Tensor,
  options: LocalLipschitzOptions = {},
): Promise<PerturbationMetricResult> {
  options = validateOptions('localLipschitzEstimate', options, [...COMMON_KEYS, 'sigma']) as LocalLipschitzOptions;
  const sigma = positive('localLipschitzEstimate: sigma', options.sigma, 0.1);
  return run(explain, x, options, 'gaussian', sigma, 'max', (e0, e1, dx) => (dx === 0 ? NaN : pNorm(e0, e1, 2) / dx));
}

/** Scores one perturbed row from e(x), e(x'), and ‖x − x'‖₂ (measured before `explain` sees x'). */
type Score = (e0: Float32Array, e1: Float32Array, dx: number) => number;

async function run(
  explain: ExplainFn,
  x: Tensor,
  options: CommonOptions,
  noise: 'uniform' | 'gaussian',
  scale: number,
  reduce: 'max' | 'mean',
  score: Score,
): Promise<PerturbationMetricResult> {
  if (typeof explain !== 'function')
    fail('INVALID_ARGUMENT', `explain must be a function (x: Tensor) => Promise<Tensor>, got ${typeof explain}`);
  const X = checkBatch('x', x);
  const S = int('samples', options.samples, 10, 1);
  const seed = resolveSeed(options.seed);
  const key = seedKey(seed);
  const abort = signal('signal', options.signal);
  const { B, n: d } = X;
  if (options.explanation === null)
    fail('INVALID_ARGUMENT', 'options.explanation is null; omit it to have e(x) computed');
  const given = options.explanation;
  const rows = B * S + (given === undefined ? B : 0);
  checkWork(
    'metricRows',
    rows,
    'the rows given to explain (examples × (samples + 1))',
    'use fewer samples or examples',
  );
  const batchSize = int('batchSize', options.batchSize, rows, 1);
  // One call's input is allocated here: refused before it could fail as a RangeError in the allocation.
  checkWork(
    'metricBatchValues',
    Math.min(batchSize, rows) * d,
    'the input values of one explain call (rows × values per row)',
    'give a smaller batchSize',
  );
  throwIfAborted(abort, 'the perturbation metric');

  // e(x), one row per example; m = values per explanation row.
  let e0: Float32Array | null = null,
    m = -1;
  if (given !== undefined) {
    const E = checkBatch('options.explanation', given);
    if (E.B !== B)
      fail(
        'INVALID_ARGUMENT',
        `options.explanation has ${E.B} rows (shape ${shapeStr(given.shape)}), expected ${B} (one per example of x)`,
      );
    e0 = E.data;
    m = E.n;
  }

  const acc = new Float64Array(B).fill(reduce === 'max' ? -Infinity : 0);
  const counted = new Uint32Array(B);
  const rowShape = x.shape.slice(1);
  const firstPerturbed = rows - B * S;

  for (let start = 0; start < rows; start += batchSize) {
    const R = Math.min(batchSize, rows - start);
    const input = new Float32Array(R * d);
    const dx = new Float64Array(R);
    for (let r = 0; r < R; r++) {
      const g = start + r;
      if (g < firstPerturbed) {
        input.set(X.data.subarray(g * d, (g + 1) * d), r * d);
        continue;
      }
      const p = g - firstPerturbed,
        b = Math.floor(p / S);
      const xr = input.subarray(r * d, (r + 1) * d),
        x0 = X.data.subarray(b * d, (b + 1) * d);
      perturb(xr, x0, b, p % S);
      dx[r] = pNorm(x0, xr, 2);
    }
    const out = await explain({ shape: [R, ...rowShape], data: input });
    if (start + R < rows) await checkpoint(abort, `the perturbation metric (after ${start + R} of ${rows} rows)`);
    const data = checkExplained(out, R, m);
    m = data.length / R;
    if (e0 === null) e0 = new Float32Array(B * m);
    for (let r = 0; r < R; r++) {
      const g = start + r;
      const er = data.subarray(r * m, (r + 1) * m);
      if (g < firstPerturbed) {
        e0.set(er, g * m);
        continue;
      }
      const p = g - firstPerturbed,
        b = Math.floor(p / S);
      const v = score(e0.subarray(b * m, (b + 1) * m), er, dx[r]);
      if (Number.isNaN(v)) continue;
      counted[b]++;
      acc[b] = reduce === 'max' ? Math.max(acc[b], v) : acc[b] + v;
    }
  }
  const values = Array.from(acc, (v, b) => (counted[b] === 0 ? NaN : reduce === 'max' ? v : v / counted[b]));
  return { values, seed };

  /** x + δ for sample s of example b, rounded to float32, into `dst`. */
  function perturb(dst: Float32Array, x0: Float32Array, b: number, s: number): void {
    for (let i = 0; i < d; i += 4) {
      const w = philox4x32(i / 4, s, b, METRIC_STREAM, key[0], key[1]);
      for (let j = 0; j < 4 && i + j < d; j++) {
        const u = uniform01(w[j]);
        const delta = noise === 'uniform' ? scale * (2 * u - 1) : scale * normalFromUniform(u);
        dst[i + j] = x0[i + j] + delta;
      }
    }
  }
}

function checkExplained(out: unknown, R: number, m: number): Float32Array {
  if (
    out === null ||
    typeof out !== 'object' ||
    !Array.isArray((out as Tensor).shape) ||
    !((out as Tensor).data instanceof Float32Array)
  ) {
    fail(
      'INVALID_ARGUMENT',
      `explain must resolve to a tensor { shape: number[], data: Float32Array }, got ${out === null ? 'null' : typeof out}`,
    );
  }
  const { shape, data } = out as Tensor;
  if (shape.length < 1 || shape[0] !== R || data.length !== sizeOf(shape) || data.length === 0) {
    fail(
      'INVALID_ARGUMENT',
      `explain returned shape ${shapeStr(shape)} with ${data.length} values for an input of ${R} rows; expected [${R}, ...] (one non-empty map per row)`,
    );
  }
  if (m >= 0 && data.length !== R * m) {
    fail(
      'INVALID_ARGUMENT',
      `explain returned ${data.length / R} values per row (shape ${shapeStr(shape)}), expected ${m} as for the other rows`,
    );
  }
  checkFinite('explain result', data, shape);
  return data;
}

/** ‖a − b‖_p (‖a‖_p when b is null) for p in {1, 2, ∞}. */
function pNorm(a: Float32Array, b: Float32Array | null, p: number): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(b === null ? a[i] : a[i] - b[i]);
    if (p === 2) s += v * v;
    else if (p === 1) s += v;
    else s = Math.max(s, v);
  }
  return p === 2 ? Math.sqrt(s) : s;
}

const nonzero = (v: number) => (v === 0 ? 1 : v);
