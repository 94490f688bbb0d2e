import type { NoiseKind } from '../backend/backend.js';
import { fail } from '../errors.js';
import type { Model } from '../graph/model.js';
import { checkClasses } from '../graph/objective.js';
import { checkTensor, type Tensor } from '../tensor.js';
import { resolveSeed } from '../noise/seed.js';
import { quadrature, type QuadratureRule } from './quadrature.js';
import { runSampling, type SamplingRequest, type Statistic } from './sampling.js';

// Gradient attribution methods. All of them are one batched-gradient engine (sampling.ts) with different
// sample plans; the stochastic ones take a `seed` (drawn and reported when omitted) and give the same
// result for the same seed on every backend and chunk size.

export interface TargetOptions {
  /** Class per example whose output is explained. */
  target: number[];
  /** Explain the class's logit (default) or its softmax probability. */
  output?: 'logit' | 'probability';
}

export interface SamplingOptions {
  /** Number of noise samples per example. */
  samples?: number;
  seed?: number;
  /** Samples per example in one batched sweep; by default as many as `maxBytes` allows. */
  batchSize?: number;
  /** Memory budget of one chunk's activations in bytes (default 32 MiB). */
  maxBytes?: number;
  /** Noise counter per example (default 0…B−1): the same id draws the same noise in any batch. */
  exampleIds?: number[];
}

/** Gaussian noise: `sigma` in input units, or `relativeSigma` times each example's range (max − min); or given draws. */
export interface GaussianNoise {
  sigma?: number;
  relativeSigma?: number;
  /** The caller's noise [S, …x.shape[1:]], added to every example (S = samples). */
  noise?: Tensor;
}

/** Uniform noise in the L∞ cube or the L2 ball: `radius` in input units, or `relativeRadius` times each example's range. */
export interface UniformNoise {
  radius?: number;
  relativeRadius?: number;
  shape?: 'cube' | 'ball';
}

export interface AttributionResult {
  attributions: Tensor;
  /** The seed the noise was drawn with (null for deterministic methods). */
  seed: number | null;
  /** Per example: the noise scale used, in input units (σ or r). */
  noiseScale?: number[];
  samples?: number;
  /** Samples per example per batched sweep, and how many sweeps ran. */
  chunkSize?: number;
  chunks?: number;
}

export interface IntegratedGradientsResult extends AttributionResult {
  /** Per example: f(x) − f(baseline) − Σ attributions (zero for exact integration). */
  delta: number[];
  steps: number;
  rule: QuadratureRule;
}

type Base = Pick<SamplingRequest, 'x' | 'target' | 'output' | 'exampleIds' | 'batchSize' | 'maxBytes'>;

function checkBase(model: Model, x: Tensor, o: TargetOptions & SamplingOptions): Base {
  if (o === null || typeof o !== 'object') fail('INVALID_ARGUMENT', 'options must be an object with at least { target }');
  checkTensor('x', x, [-1, ...model.inputShape]);
  const B = x.shape[0];
  if (o.output !== undefined && o.output !== 'logit' && o.output !== 'probability') {
    fail('INVALID_ARGUMENT', `output must be 'logit' or 'probability', got ${JSON.stringify(o.output)}`);
  }
  const ids = o.exampleIds ?? Array.from({ length: B }, (_, i) => i);
  if (!Array.isArray(ids) || ids.length !== B || !ids.every((v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32)) {
    fail('INVALID_ARGUMENT', `exampleIds must be ${B} integers in [0, 2^32), one per example`);
  }
  for (const k of ['batchSize', 'maxBytes'] as const) {
    const v = o[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) fail('INVALID_ARGUMENT', `${k} must be an integer >= 1, got ${v}`);
  }
  return {
    x, target: checkClasses('target', o.target, B, model.classes), output: o.output ?? 'logit',
    exampleIds: ids, batchSize: o.batchSize, maxBytes: o.maxBytes,
  };
}

function checkSamples(n: unknown, name = 'samples'): number {
  if (!Number.isInteger(n) || (n as number) < 1) fail('INVALID_ARGUMENT', `${name} must be an integer >= 1, got ${JSON.stringify(n)}`);
  return n as number;
}


/**
 * σ or r per example from an absolute or a relative scale; exactly one of the two. The one resolution of
 * sigma/relativeSigma/radius/relativeRadius: the attribution methods and the attacks (attack/explain.ts) both
 * call it, so both reject what one rejects (a relative scale of a constant input would silently be 0).
 */
export function noiseScales(x: Tensor, absolute: number | undefined, relative: number | undefined, names: [string, string]): number[] {
  if ((absolute === undefined) === (relative === undefined)) {
    fail('INVALID_ARGUMENT', `give exactly one of ${names[0]} (in input units) and ${names[1]} (a fraction of each example's range max − min)`);
  }
  const v = (absolute ?? relative)!;
  const name = absolute !== undefined ? names[0] : names[1];
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail('INVALID_ARGUMENT', `${name} must be a finite number > 0, got ${JSON.stringify(v)}`);
  const B = x.shape[0], d = x.data.length / B;
  return Array.from({ length: B }, (_, b) => {
    if (absolute !== undefined) return v;
    let lo = Infinity, hi = -Infinity;
    for (let i = b * d; i < (b + 1) * d; i++) { lo = Math.min(lo, x.data[i]); hi = Math.max(hi, x.data[i]); }
    if (hi === lo) fail('INVALID_ARGUMENT', `${name}: example ${b} has a constant input (range 0), so a relative scale is 0; give ${names[0]} instead`);
    return v * (hi - lo);
  });
}

/** The noise part of a plan, from Gaussian or uniform options. */
interface NoisePlan { noise: NoiseKind; noiseSamples: number; scales?: number[]; given?: Tensor }

function gaussianPlan(model: Model, x: Tensor, o: GaussianNoise & SamplingOptions): NoisePlan {
  if (o.noise !== undefined) {
    if (o.sigma !== undefined || o.relativeSigma !== undefined) fail('INVALID_ARGUMENT', 'give either noise tensors or sigma/relativeSigma, not both');
    const t = checkTensor('noise', o.noise, [-1, ...model.inputShape]);
    if (o.samples !== undefined && o.samples !== t.shape[0]) fail('INVALID_ARGUMENT', `samples (${o.samples}) must equal the number of noise tensors (${t.shape[0]})`);
    return { noise: 'given', noiseSamples: t.shape[0], given: t };
  }
  return { noise: 'gaussian', noiseSamples: checkSamples(o.samples ?? 50), scales: noiseScales(x, o.sigma, o.relativeSigma, ['sigma', 'relativeSigma']) };
}

function uniformPlan(x: Tensor, o: UniformNoise & SamplingOptions): NoisePlan {
  const shape = o.shape ?? 'cube';
  if (shape !== 'cube' && shape !== 'ball') fail('INVALID_ARGUMENT', `shape must be 'cube' or 'ball', got ${JSON.stringify(shape)}`);
  return { noise: shape, noiseSamples: checkSamples(o.samples ?? 50), scales: noiseScales(x, o.radius, o.relativeRadius, ['radius', 'relativeRadius']) };
}

async function smooth(model: Model, x: Tensor, o: TargetOptions & SamplingOptions, plan: NoisePlan, statistic: Statistic,
  extra: { multiply?: boolean; absolute?: boolean; path?: SamplingRequest['path'] } = {}): Promise<AttributionResult> {
  const base = checkBase(model, x, o);
  const seed = resolveSeed(o.seed);
  const r = await runSampling(model, { ...base, ...plan, statistic, seed, multiply: !!extra.multiply, absolute: !!extra.absolute, path: extra.path });
  return { attributions: r.attributions, seed: plan.noise === 'given' ? null : seed, noiseScale: plan.scales, samples: plan.noiseSamples, chunkSize: r.chunkSize, chunks: r.chunks };
}

const NO_NOISE: NoisePlan = { noise: 'none', noiseSamples: 1 };

/** The gradient map ∂f/∂x (signed, or its absolute value). */
export async function saliency(model: Model, x: Tensor, o: TargetOptions & { absolute?: boolean }): Promise<AttributionResult> {
  const r = await smooth(model, x, o, NO_NOISE, 'mean', { absolute: !!o.absolute });
  return { attributions: r.attributions, seed: null };
}

/** x ⊙ ∂f/∂x. */
export async function inputXGradient(model: Model, x: Tensor, o: TargetOptions): Promise<AttributionResult> {
  const r = await smooth(model, x, o, NO_NOISE, 'mean', { multiply: true });
  return { attributions: r.attributions, seed: null };
}

/** SmoothGrad (Smilkov et al. 2017): E[∂f(x + ε)/∂x], ε ~ N(0, σ²I), or the mean over given noise tensors. */
export function smoothGrad(model: Model, x: Tensor, o: TargetOptions & SamplingOptions & GaussianNoise): Promise<AttributionResult> {
  return smooth(model, x, o, gaussianPlan(model, x, o), 'mean');
}

/** SmoothGrad²: E[(∂f(x + ε)/∂x)²]. */
export function smoothGradSquared(model: Model, x: Tensor, o: TargetOptions & SamplingOptions & GaussianNoise): Promise<AttributionResult> {
  return smooth(model, x, o, gaussianPlan(model, x, o), 'meanSquare');
}

/** VarGrad (Adebayo et al. 2018): Var[∂f(x + ε)/∂x] (population variance over the samples). */
export function varGrad(model: Model, x: Tensor, o: TargetOptions & SamplingOptions & GaussianNoise): Promise<AttributionResult> {
  return smooth(model, x, o, gaussianPlan(model, x, o), 'variance');
}

/** Uniform Gradient (Wang et al. 2020): E[∂f(x + ε)/∂x], ε uniform in the L∞ cube or L2 ball of radius r. */
export function uniformGradient(model: Model, x: Tensor, o: TargetOptions & SamplingOptions & UniformNoise): Promise<AttributionResult> {
  return smooth(model, x, o, uniformPlan(x, o), 'mean');
}

export interface IntegratedGradientsOptions extends TargetOptions {
  steps?: number;
  rule?: QuadratureRule;
  /** [B, …] or one [C, H, W] for every example; zeros by default. */
  baseline?: Tensor;
  batchSize?: number;
  maxBytes?: number;
}

function igPath(model: Model, x: Tensor, o: IntegratedGradientsOptions) {
  const steps = o.steps ?? 64, rule = o.rule ?? 'gauss-legendre';
  const { alphas, weights } = quadrature(rule, steps);
  let baseline: Float32Array | null = null;
  if (o.baseline !== undefined) {
    const one = o.baseline?.shape?.length === model.inputShape.length;
    const t = checkTensor('baseline', o.baseline, one ? model.inputShape : x.shape);
    baseline = one ? new Float32Array(x.data.length).map((_, i) => t.data[i % t.data.length]) : t.data;
  }
  return { steps, rule, path: { alphas, weights, baseline } };
}

/** Integrated Gradients (Sundararajan et al. 2017) with a quadrature rule; reports the completeness delta. */
export async function integratedGradients(model: Model, x: Tensor, o: IntegratedGradientsOptions): Promise<IntegratedGradientsResult> {
  const base = checkBase(model, x, o);
  const { steps, rule, path } = igPath(model, x, o);
  const r = await runSampling(model, { ...base, ...NO_NOISE, statistic: 'mean', seed: 0, multiply: true, absolute: false, path, endpointValues: true });
  const B = x.shape[0], d = x.data.length / B;
  const delta = r.endpoints!.atX.map((fx, b) => {
    let s = 0;
    for (let i = b * d; i < (b + 1) * d; i++) s += r.attributions.data[i];
    return fx - r.endpoints!.atBaseline[b] - s;
  });
  warnIfIncomplete(delta, r.endpoints!.atX.map((fx, b) => fx - r.endpoints!.atBaseline[b]), rule, steps);
  return { attributions: r.attributions, seed: null, delta, steps, rule, chunkSize: r.chunkSize, chunks: r.chunks };
}

/** Share of f(x) − f(baseline) past which the completeness delta means the path integral is not resolved. */
export const IG_DELTA_WARNING = 0.01;

/**
 * Warns (console.warn, once per call) when |delta| > 1% of |f(x) − f(baseline)| for some example. On ReLU
 * networks the gradient is piecewise constant along the path, so no quadrature rule converges fast and
 * Gauss–Legendre's high order buys nothing: at its default 64 points the delta reached 25% of the gap on a
 * small ReLU CNN. Returns the examples warned about.
 */
export function warnIfIncomplete(delta: readonly number[], gap: readonly number[], rule: QuadratureRule, steps: number): number[] {
  const bad = delta.map((d, b) => (Math.abs(d) > IG_DELTA_WARNING * Math.abs(gap[b]) ? b : -1)).filter((b) => b >= 0);
  if (bad.length) {
    const shares = bad.map((b) => `example ${b}: ${(100 * Math.abs(delta[b] / gap[b])).toFixed(1)}%`).join(', ');
    console.warn(
      `smoothgeo: integrated gradients with ${steps} ${rule} points miss completeness by more than 1% of f(x) − f(baseline) ` +
      `(${shares}): the path integral is not resolved. On ReLU networks the path gradient is piecewise constant and no rule ` +
      'converges fast (Gauss–Legendre has no advantage): raise steps (256–1024) until delta is below 1% of the gap.',
    );
  }
  return bad;
}

export interface NoiseTunnelOptions extends TargetOptions, SamplingOptions {
  /** The method to smooth. */
  method: 'saliency' | 'inputXGradient' | 'integratedGradients';
  /** Gaussian (sigma / relativeSigma / noise) or uniform ('cube' | 'ball' with radius / relativeRadius). */
  noiseType?: 'gaussian' | 'cube' | 'ball';
  sigma?: number; relativeSigma?: number; noise?: Tensor;
  radius?: number; relativeRadius?: number;
  /** How the per-sample attributions are combined (default 'mean'). */
  statistic?: Statistic;
  absolute?: boolean; // saliency only
  steps?: number; rule?: QuadratureRule; baseline?: Tensor; // integratedGradients only
}

/** Smooths any method: its attribution at x + ε averaged (or squared, or its variance) over noise samples. */
export async function noiseTunnel(model: Model, x: Tensor, o: NoiseTunnelOptions): Promise<AttributionResult> {
  const methods = ['saliency', 'inputXGradient', 'integratedGradients'];
  if (!methods.includes(o?.method)) fail('INVALID_ARGUMENT', `method must be one of ${methods.join(', ')}, got ${JSON.stringify(o?.method)}`);
  const statistic = o.statistic ?? 'mean';
  if (!['mean', 'meanSquare', 'variance'].includes(statistic)) fail('INVALID_ARGUMENT', `statistic must be 'mean', 'meanSquare' or 'variance', got ${JSON.stringify(statistic)}`);
  const type = o.noiseType ?? 'gaussian';
  const plan = type === 'gaussian' ? gaussianPlan(model, x, o) : type === 'cube' || type === 'ball' ? uniformPlan(x, { ...o, shape: type })
    : fail('INVALID_ARGUMENT', `noiseType must be 'gaussian', 'cube' or 'ball', got ${JSON.stringify(type)}`);
  const ig = o.method === 'integratedGradients' ? igPath(model, x, o) : null;
  return smooth(model, x, o, plan, statistic, {
    multiply: o.method !== 'saliency', absolute: o.method === 'saliency' && !!o.absolute, path: ig?.path,
  });
}

/**
 * The paper's map post-processing: Σ over channels of |a|, normalised so that each example's map sums to
 * H·W (a map of zeros stays zero). [B, C, H, W] → [B, H, W].
 */
export function attributionMap(a: Tensor): Tensor {
  if (a?.shape?.length !== 4) fail('INVALID_ARGUMENT', `attributionMap needs [B, C, H, W], got ${JSON.stringify(a?.shape)}`);
  const [B, C, H, W] = a.shape, hw = H * W;
  const out = new Float32Array(B * hw);
  for (let b = 0; b < B; b++) {
    let total = 0;
    for (let c = 0; c < C; c++) for (let i = 0; i < hw; i++) {
      const v = Math.abs(a.data[(b * C + c) * hw + i]);
      out[b * hw + i] += v;
      total += v;
    }
    if (total > 0) for (let i = 0; i < hw; i++) out[b * hw + i] *= hw / total;
  }
  return { shape: [B, H, W], data: out };
}


