import type { NoiseKind } from '../backend/backend.js';
import { fail } from '../errors.js';
import { bool, choice, int, options as validateOptions, positive, show, signal } from '../validate.js';
import { Model } from '../graph/model.js';
import { checkClasses } from '../graph/objective.js';
import { checkTensor, shapeStr, type Tensor } from '../tensor.js';
import { checkWork } from '../limits.js';
import { resolveSeed } from '../noise/seed.js';
import { quadrature, QUADRATURE_RULES, type QuadratureRule } from './quadrature.js';
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
  /** Memory budget of one chunk's activations in bytes (default: the backend's chunkBytes, 32 MiB on cpu and software adapters, up to 512 MiB on a GPU). */
  maxBytes?: number;
  /** Noise counter per example (default 0…B−1): the same id draws the same noise in any batch. */
  exampleIds?: number[];
  /** Stops the call (an ABORTED error) when it fires; checked between chunks of samples. */
  signal?: AbortSignal;
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

type Base = Pick<SamplingRequest, 'x' | 'target' | 'output' | 'exampleIds' | 'batchSize' | 'maxBytes' | 'signal'>;

/** Options every method takes, and those of each noise family (for the unknown-key check). */
const BASE_KEYS = ['target', 'output', 'exampleIds', 'batchSize', 'maxBytes', 'signal'];
const SAMPLING_KEYS = ['samples', 'seed'];
const GAUSSIAN_KEYS = ['sigma', 'relativeSigma', 'noise'];
const UNIFORM_KEYS = ['radius', 'relativeRadius', 'shape'];
const IG_KEYS = ['steps', 'rule', 'baseline'];

/** The model and x of a call, checked before anything else reads them. */
function checkModelAndX(fn: string, model: Model, x: Tensor): void {
  if (!(model instanceof Model))
    fail('INVALID_ARGUMENT', `${fn}: model must be a Model from loadModel(), got ${show(model)}`);
  checkTensor('x', x, [-1, ...model.inputShape]);
}

function checkBase(fn: string, model: Model, x: Tensor, o: TargetOptions & SamplingOptions): Base {
  const B = x.shape[0];
  const output = choice(`${fn}: output`, o.output, ['logit', 'probability'] as const, 'logit');
  if (o.exampleIds === null)
    fail('INVALID_ARGUMENT', `${fn}: exampleIds is null; omit it for the default or give ${B} integers`);
  const ids = o.exampleIds ?? Array.from({ length: B }, (_, i) => i);
  if (!Array.isArray(ids) || ids.length !== B || !ids.every((v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32)) {
    fail('INVALID_ARGUMENT', `${fn}: exampleIds must be ${B} integers in [0, 2^32), one per example, got ${show(ids)}`);
  }
  const batchSize = o.batchSize === undefined ? undefined : int(`${fn}: batchSize`, o.batchSize, undefined, 1);
  const maxBytes = o.maxBytes === undefined ? undefined : int(`${fn}: maxBytes`, o.maxBytes, undefined, 1);
  return {
    x,
    target: checkClasses(`${fn}: target`, o.target, B, model.classes),
    output,
    exampleIds: ids,
    batchSize,
    maxBytes,
    signal: signal(`${fn}: signal`, o.signal),
  };
}

function checkSamples(fn: string, n: unknown): number {
  return int(`${fn}: samples`, n, 50, 1);
}

/**
 * σ or r per example from an absolute or a relative scale; exactly one of the two. The one resolution of
 * sigma/relativeSigma/radius/relativeRadius: the attribution methods and the attacks (attack/explain.ts) both
 * call it, so both reject what one rejects (a relative scale of a constant input would silently be 0).
 * `fn` names the calling function in messages.
 */
export function noiseScales(
  x: Tensor,
  absolute: unknown,
  relative: unknown,
  names: [string, string],
  fn = 'noise',
): number[] {
  if ((absolute === undefined) === (relative === undefined)) {
    fail(
      'INVALID_ARGUMENT',
      `${fn}: give exactly one of ${names[0]} (in input units) and ${names[1]} (a fraction of each example's range max − min)`,
    );
  }
  const name = absolute !== undefined ? names[0] : names[1];
  const v = positive(`${fn}: ${name}`, absolute ?? relative);
  const B = x.shape[0],
    d = x.data.length / B;
  return Array.from({ length: B }, (_, b) => {
    if (absolute !== undefined) return v;
    let lo = Infinity,
      hi = -Infinity;
    for (let i = b * d; i < (b + 1) * d; i++) {
      lo = Math.min(lo, x.data[i]);
      hi = Math.max(hi, x.data[i]);
    }
    if (hi === lo)
      fail(
        'INVALID_ARGUMENT',
        `${fn}: ${name}: example ${b} has a constant input (range 0), so a relative scale is 0; give ${names[0]} instead`,
      );
    return v * (hi - lo);
  });
}

/** The noise part of a plan, from Gaussian or uniform options. */
interface NoisePlan {
  noise: NoiseKind;
  noiseSamples: number;
  scales?: number[];
  given?: Tensor;
}

function gaussianPlan(fn: string, model: Model, x: Tensor, o: GaussianNoise & SamplingOptions): NoisePlan {
  if (o.noise !== undefined) {
    if (o.sigma !== undefined || o.relativeSigma !== undefined)
      fail('INVALID_ARGUMENT', `${fn}: give either noise tensors or sigma/relativeSigma, not both`);
    const t = checkTensor('noise', o.noise, [-1, ...model.inputShape]);
    if (o.samples !== undefined && o.samples !== t.shape[0])
      fail(
        'INVALID_ARGUMENT',
        `${fn}: samples (${show(o.samples)}) must equal the number of noise tensors (${t.shape[0]})`,
      );
    return { noise: 'given', noiseSamples: t.shape[0], given: t };
  }
  return {
    noise: 'gaussian',
    noiseSamples: checkSamples(fn, o.samples),
    scales: noiseScales(x, o.sigma, o.relativeSigma, ['sigma', 'relativeSigma'], fn),
  };
}

function uniformPlan(fn: string, x: Tensor, o: UniformNoise & SamplingOptions): NoisePlan {
  const shape = choice(`${fn}: shape`, o.shape, ['cube', 'ball'] as const, 'cube');
  return {
    noise: shape,
    noiseSamples: checkSamples(fn, o.samples),
    scales: noiseScales(x, o.radius, o.relativeRadius, ['radius', 'relativeRadius'], fn),
  };
}

/** Checks a call's arguments and options (every error through the returned promise), then runs its plan. */
// The options are checked against `keys` before each method's callbacks read their own fields from them, so
// `any` stands for "one of the methods' option types" here (typing each call is issue 13's to refine).
/* eslint-disable @typescript-eslint/no-explicit-any */
async function smooth(
  fn: string,
  model: Model,
  x: Tensor,
  options: unknown,
  keys: string[],
  plan: (o: any) => NoisePlan,
  statistic: (o: any) => Statistic,
  extra: (o: any) => { multiply?: boolean; absolute?: boolean; path?: SamplingRequest['path'] } = () => ({}),
): Promise<AttributionResult> {
  checkModelAndX(fn, model, x);
  const o = validateOptions(fn, options, keys, true) as any;
  /* eslint-enable @typescript-eslint/no-explicit-any */
  const base = checkBase(fn, model, x, o);
  const p = plan(o),
    st = statistic(o),
    e = extra(o);
  // A plan that draws no noise needs no seed: making a random one (crypto.getRandomValues) was a measurable
  // part of a one-image saliency call.
  const seed = o.seed === undefined && (p.noise === 'none' || p.noise === 'given') ? 0 : resolveSeed(o.seed);
  const r = await runSampling(model, {
    ...base,
    ...p,
    statistic: st,
    seed,
    multiply: !!e.multiply,
    absolute: !!e.absolute,
    path: e.path,
  });
  return {
    attributions: r.attributions,
    seed: p.noise === 'given' || p.noise === 'none' ? null : seed,
    noiseScale: p.scales,
    samples: p.noiseSamples,
    chunkSize: r.chunkSize,
    chunks: r.chunks,
  };
}

const NO_NOISE = (): NoisePlan => ({ noise: 'none', noiseSamples: 1 });
const MEAN = (): Statistic => 'mean';

/** The gradient map ∂f/∂x (signed, or its absolute value). */
export async function saliency(
  model: Model,
  x: Tensor,
  o: TargetOptions & { absolute?: boolean; signal?: AbortSignal },
): Promise<AttributionResult> {
  const r = await smooth('saliency', model, x, o, [...BASE_KEYS, 'absolute'], NO_NOISE, MEAN, (v) => ({
    absolute: bool('saliency: absolute', v.absolute, false),
  }));
  return { attributions: r.attributions, seed: null };
}

/** x ⊙ ∂f/∂x. */
export async function inputXGradient(
  model: Model,
  x: Tensor,
  o: TargetOptions & { signal?: AbortSignal },
): Promise<AttributionResult> {
  const r = await smooth('inputXGradient', model, x, o, BASE_KEYS, NO_NOISE, MEAN, () => ({ multiply: true }));
  return { attributions: r.attributions, seed: null };
}

const GAUSSIAN_OPTIONS = [...BASE_KEYS, ...SAMPLING_KEYS, ...GAUSSIAN_KEYS];

/** SmoothGrad (Smilkov et al. 2017): E[∂f(x + ε)/∂x], ε ~ N(0, σ²I), or the mean over given noise tensors. */
export async function smoothGrad(
  model: Model,
  x: Tensor,
  o: TargetOptions & SamplingOptions & GaussianNoise,
): Promise<AttributionResult> {
  return smooth('smoothGrad', model, x, o, GAUSSIAN_OPTIONS, (v) => gaussianPlan('smoothGrad', model, x, v), MEAN);
}

/** SmoothGrad²: E[(∂f(x + ε)/∂x)²]. */
export async function smoothGradSquared(
  model: Model,
  x: Tensor,
  o: TargetOptions & SamplingOptions & GaussianNoise,
): Promise<AttributionResult> {
  return smooth(
    'smoothGradSquared',
    model,
    x,
    o,
    GAUSSIAN_OPTIONS,
    (v) => gaussianPlan('smoothGradSquared', model, x, v),
    () => 'meanSquare',
  );
}

/** VarGrad (Adebayo et al. 2018): Var[∂f(x + ε)/∂x] (population variance over the samples). */
export async function varGrad(
  model: Model,
  x: Tensor,
  o: TargetOptions & SamplingOptions & GaussianNoise,
): Promise<AttributionResult> {
  return smooth(
    'varGrad',
    model,
    x,
    o,
    GAUSSIAN_OPTIONS,
    (v) => gaussianPlan('varGrad', model, x, v),
    () => 'variance',
  );
}

/** Uniform Gradient (Wang et al. 2020): E[∂f(x + ε)/∂x], ε uniform in the L∞ cube or L2 ball of radius r. */
export async function uniformGradient(
  model: Model,
  x: Tensor,
  o: TargetOptions & SamplingOptions & UniformNoise,
): Promise<AttributionResult> {
  return smooth(
    'uniformGradient',
    model,
    x,
    o,
    [...BASE_KEYS, ...SAMPLING_KEYS, ...UNIFORM_KEYS],
    (v) => uniformPlan('uniformGradient', x, v),
    MEAN,
  );
}

export interface IntegratedGradientsOptions extends TargetOptions {
  steps?: number;
  rule?: QuadratureRule;
  /** [B, …] or one [C, H, W] for every example; zeros by default. */
  baseline?: Tensor;
  batchSize?: number;
  maxBytes?: number;
  exampleIds?: number[];
  signal?: AbortSignal;
}

function igPath(fn: string, model: Model, x: Tensor, o: IntegratedGradientsOptions) {
  const steps = int(`${fn}: steps`, o.steps, 64, 1);
  const rule = choice(`${fn}: rule`, o.rule, QUADRATURE_RULES, 'gauss-legendre');
  // Refused before the quadrature nodes are computed (Gauss–Legendre costs steps² on the host).
  checkWork(
    'gradientEvaluations',
    x.shape[0] * steps,
    `${fn}: the gradient evaluations (examples × steps)`,
    'use fewer steps or examples',
  );
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
export async function integratedGradients(
  model: Model,
  x: Tensor,
  options: IntegratedGradientsOptions,
): Promise<IntegratedGradientsResult> {
  const fn = 'integratedGradients';
  checkModelAndX(fn, model, x);
  const o = validateOptions(fn, options, [...BASE_KEYS, ...IG_KEYS], true) as unknown as IntegratedGradientsOptions;
  const base = checkBase(fn, model, x, o);
  const { steps, rule, path } = igPath(fn, model, x, o);
  const r = await runSampling(model, {
    ...base,
    ...NO_NOISE(),
    statistic: 'mean',
    seed: 0,
    multiply: true,
    absolute: false,
    path,
    endpointValues: true,
  });
  const B = x.shape[0],
    d = x.data.length / B;
  const delta = r.endpoints!.atX.map((fx, b) => {
    let s = 0;
    for (let i = b * d; i < (b + 1) * d; i++) s += r.attributions.data[i];
    return fx - r.endpoints!.atBaseline[b] - s;
  });
  warnIfIncomplete(
    delta,
    r.endpoints!.atX.map((fx, b) => fx - r.endpoints!.atBaseline[b]),
    rule,
    steps,
  );
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
export function warnIfIncomplete(
  delta: readonly number[],
  gap: readonly number[],
  rule: QuadratureRule,
  steps: number,
): number[] {
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
  sigma?: number;
  relativeSigma?: number;
  noise?: Tensor;
  radius?: number;
  relativeRadius?: number;
  /** How the per-sample attributions are combined (default 'mean'). */
  statistic?: Statistic;
  absolute?: boolean; // saliency only
  steps?: number;
  rule?: QuadratureRule;
  baseline?: Tensor; // integratedGradients only
}

/** Smooths any method: its attribution at x + ε averaged (or squared, or its variance) over noise samples. */
export async function noiseTunnel(model: Model, x: Tensor, o: NoiseTunnelOptions): Promise<AttributionResult> {
  const fn = 'noiseTunnel';
  const keys = [
    ...BASE_KEYS,
    ...SAMPLING_KEYS,
    'method',
    'noiseType',
    'statistic',
    'absolute',
    'sigma',
    'relativeSigma',
    'noise',
    'radius',
    'relativeRadius',
    ...IG_KEYS,
  ];
  return smooth(
    fn,
    model,
    x,
    o,
    keys,
    (v) => {
      const type = choice(`${fn}: noiseType`, v.noiseType, ['gaussian', 'cube', 'ball'] as const, 'gaussian');
      for (const k of type === 'gaussian' ? ['radius', 'relativeRadius'] : ['sigma', 'relativeSigma', 'noise']) {
        if (v[k] !== undefined) fail('INVALID_ARGUMENT', `${fn}: option '${k}' does not apply to noiseType '${type}'`);
      }
      return type === 'gaussian' ? gaussianPlan(fn, model, x, v) : uniformPlan(fn, x, { ...v, shape: type });
    },
    (v) => choice(`${fn}: statistic`, v.statistic, ['mean', 'meanSquare', 'variance'] as const, 'mean'),
    (v) => {
      const method = choice(
        `${fn}: method`,
        v.method,
        ['saliency', 'inputXGradient', 'integratedGradients'] as const,
        undefined as never,
      );
      if (v.method === undefined)
        fail('INVALID_ARGUMENT', `${fn}: method is required: 'saliency', 'inputXGradient' or 'integratedGradients'`);
      const absolute = bool(`${fn}: absolute`, v.absolute, false);
      if (absolute && method !== 'saliency')
        fail('INVALID_ARGUMENT', `${fn}: absolute applies to method 'saliency' only`);
      if (method !== 'integratedGradients') {
        for (const k of IG_KEYS)
          if (v[k] !== undefined)
            fail('INVALID_ARGUMENT', `${fn}: option '${k}' applies to method 'integratedGradients' only`);
      }
      const ig = method === 'integratedGradients' ? igPath(fn, model, x, v) : null;
      return { multiply: method !== 'saliency', absolute, path: ig?.path };
    },
  );
}

/**
 * The paper's map post-processing: Σ over channels of |a|, normalised so that each example's map sums to
 * H·W (a map of zeros stays zero). [B, C, H, W] → [B, H, W].
 */
export function attributionMap(a: Tensor): Tensor {
  if (a === null || typeof a !== 'object' || !Array.isArray(a.shape) || a.shape.length !== 4) {
    fail(
      'INVALID_ARGUMENT',
      `attributionMap needs a tensor [B, C, H, W], got ${a === null || typeof a !== 'object' ? show(a) : shapeStr(a.shape)}`,
    );
  }
  checkTensor('attributionMap: a', a, [-1, -1, -1, -1]);
  const [B, C, H, W] = a.shape,
    hw = H * W;
  const out = new Float32Array(B * hw);
  for (let b = 0; b < B; b++) {
    let total = 0;
    for (let c = 0; c < C; c++)
      for (let i = 0; i < hw; i++) {
        const v = Math.abs(a.data[(b * C + c) * hw + i]);
        out[b * hw + i] += v;
        total += v;
      }
    if (total > 0) for (let i = 0; i < hw; i++) out[b * hw + i] *= hw / total;
  }
  return { shape: [B, H, W], data: out };
}
