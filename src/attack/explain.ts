import { attributionMap, noiseScales } from '../attribution/methods.js';
import { quadrature, QUADRATURE_RULES, type QuadratureRule } from '../attribution/quadrature.js';
import { runSampling, type SamplingRequest } from '../attribution/sampling.js';
import { fail } from '../errors.js';
import { bool, choice, int, options as validateOptions, show } from '../validate.js';
import type { Model } from '../graph/model.js';
import { checkTensor, type Tensor } from '../tensor.js';

// An explanation method as a differentiable function of the input, for attacks: its map M(x) and the exact
// vector-Jacobian product Jᵀu of the map (u = ∂loss/∂M), both through the sampling engine:
//   saliency        M = g            Jᵀu = H u              (|g|: H (sign g ⊙ u))
//   inputXGradient  M = x ⊙ g        Jᵀu = g ⊙ u + H (x ⊙ u)
//   smoothGrad, UG  M = E_ε g(x+ε)   Jᵀu = E_ε H(x+ε) u     (the same ε as the map: same seed)
//   IG              M = (x−b) ⊙ G    Jᵀu = G ⊙ u + Σ_s w_s α_s H_s ((x−b) ⊙ u),  G = Σ_s w_s g_s
// H is the input Hessian of the explained output at each sample, applied by forward-over-reverse.

export type ExplainMethod = 'saliency' | 'inputXGradient' | 'smoothGrad' | 'uniformGradient' | 'integratedGradients';
export const EXPLAIN_METHODS: ExplainMethod[] = [
  'saliency',
  'inputXGradient',
  'smoothGrad',
  'uniformGradient',
  'integratedGradients',
];

export interface ExplainSpec {
  method: ExplainMethod;
  /** Class per example whose output is explained (default: the model's prediction on the clean input). */
  target?: number[];
  output?: 'logit' | 'probability';
  absolute?: boolean; // saliency
  sigma?: number;
  relativeSigma?: number; // smoothGrad
  radius?: number;
  relativeRadius?: number;
  shape?: 'cube' | 'ball'; // uniformGradient
  samples?: number; // smoothGrad, uniformGradient (default 32)
  steps?: number;
  rule?: QuadratureRule;
  baseline?: Tensor; // integratedGradients (default 32, gauss-legendre, zeros)
  batchSize?: number;
  maxBytes?: number;
}

/** The request skeleton of a method at x (noise scales fixed from the clean input, so they do not drift). */
export interface PreparedExplain {
  spec: ExplainSpec;
  target: number[];
  base: Omit<SamplingRequest, 'x' | 'seed' | 'multiply' | 'absolute' | 'statistic' | 'tangent'>;
  multiply: boolean; // inputXGradient, IG
  absolute: boolean; // saliency |g|
  baseline: Float32Array | null;
}

/** The options each method takes, besides the common ones. */
const COMMON_KEYS = ['method', 'target', 'output', 'batchSize', 'maxBytes'];
const METHOD_KEYS: Record<ExplainMethod, string[]> = {
  saliency: ['absolute'],
  inputXGradient: [],
  smoothGrad: ['sigma', 'relativeSigma', 'samples'],
  uniformGradient: ['radius', 'relativeRadius', 'shape', 'samples'],
  integratedGradients: ['steps', 'rule', 'baseline'],
};

/**
 * Checks an explain spec's keys and scalar options for its method (so a misspelled option is an error);
 * returns the gradient evaluations one map costs per example (samples, or path steps), for the work limit.
 */
export function checkExplainSpec(name: string, spec: unknown): number {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    fail(
      'INVALID_ARGUMENT',
      `${name} must be an object { method, ... } with method one of ${EXPLAIN_METHODS.join(', ')}, got ${show(spec)}`,
    );
  }
  const method = choice(`${name}.method`, (spec as ExplainSpec).method, EXPLAIN_METHODS, undefined as never);
  if (method === undefined)
    fail('INVALID_ARGUMENT', `${name}.method is required: one of ${EXPLAIN_METHODS.join(', ')}`);
  const o = validateOptions(`${name} (method '${method}')`, spec, [...COMMON_KEYS, ...METHOD_KEYS[method]]);
  choice(`${name}.output`, o.output, ['logit', 'probability'] as const, 'logit');
  if (o.batchSize !== undefined) int(`${name}.batchSize`, o.batchSize, undefined, 1);
  if (o.maxBytes !== undefined) int(`${name}.maxBytes`, o.maxBytes, undefined, 1);
  if (method === 'saliency') bool(`${name}.absolute`, o.absolute, false);
  if (method === 'uniformGradient') choice(`${name}.shape`, o.shape, ['cube', 'ball'] as const, 'cube');
  if (method === 'integratedGradients') {
    choice(`${name}.rule`, o.rule, QUADRATURE_RULES, 'gauss-legendre');
    return int(`${name}.steps`, o.steps, 32, 1);
  }
  if (method === 'smoothGrad' || method === 'uniformGradient') return int(`${name}.samples`, o.samples, 32, 1);
  return 1;
}

export function prepareExplain(model: Model, x: Tensor, spec: ExplainSpec, target: number[]): PreparedExplain {
  checkExplainSpec('explain', spec);
  const B = x.shape[0];
  const samples = spec.samples ?? 32;
  if (!Number.isInteger(samples) || samples < 1)
    fail('INVALID_ARGUMENT', `samples must be an integer >= 1, got ${samples}`);
  const common = {
    target,
    output: spec.output ?? 'logit',
    exampleIds: Array.from({ length: B }, (_, i) => i),
    batchSize: spec.batchSize,
    maxBytes: spec.maxBytes,
  } as const;
  let baseline: Float32Array | null = null;
  switch (spec.method) {
    case 'saliency':
      return {
        spec,
        target,
        base: { ...common, noise: 'none', noiseSamples: 1 },
        multiply: false,
        absolute: !!spec.absolute,
        baseline,
      };
    case 'inputXGradient':
      return {
        spec,
        target,
        base: { ...common, noise: 'none', noiseSamples: 1 },
        multiply: true,
        absolute: false,
        baseline,
      };
    case 'smoothGrad':
      return {
        spec,
        target,
        base: {
          ...common,
          noise: 'gaussian',
          noiseSamples: samples,
          scales: noiseScales(x, spec.sigma, spec.relativeSigma, ['sigma', 'relativeSigma'], 'explain'),
        },
        multiply: false,
        absolute: false,
        baseline,
      };
    case 'uniformGradient': {
      const shape = spec.shape ?? 'cube';
      if (shape !== 'cube' && shape !== 'ball')
        fail('INVALID_ARGUMENT', `shape must be 'cube' or 'ball', got ${show(shape)}`);
      return {
        spec,
        target,
        base: {
          ...common,
          noise: shape,
          noiseSamples: samples,
          scales: noiseScales(x, spec.radius, spec.relativeRadius, ['radius', 'relativeRadius'], 'explain'),
        },
        multiply: false,
        absolute: false,
        baseline,
      };
    }
    case 'integratedGradients': {
      const { alphas, weights } = quadrature(spec.rule ?? 'gauss-legendre', spec.steps ?? 32);
      if (spec.baseline) baseline = checkTensor('baseline', spec.baseline, x.shape).data;
      return {
        spec,
        target,
        base: { ...common, noise: 'none', noiseSamples: 1, path: { alphas, weights, baseline } },
        multiply: true,
        absolute: false,
        baseline,
      };
    }
  }
}

/** The raw (signed where the method is) sample mean G of the gradients at x: Σ_s w_s g_s averaged over ε. */
async function gradientMean(model: Model, p: PreparedExplain, x: Tensor, seed: number, tangent?: Float32Array) {
  return runSampling(model, { ...p.base, x, seed, multiply: false, absolute: false, statistic: 'mean', tangent });
}

/** The method's map M(x) [B, C, H, W], with noise from `seed`. */
export async function explainMap(model: Model, p: PreparedExplain, x: Tensor, seed: number): Promise<Tensor> {
  const G = (await gradientMean(model, p, x, seed)).attributions;
  return { shape: G.shape, data: applyMultiplier(p, x, G.data) };
}

/** M and Jᵀu for a cotangent u = ∂loss/∂M computed from that same M by `cotangent`. */
export async function explainVjp(
  model: Model,
  p: PreparedExplain,
  x: Tensor,
  seed: number,
  G: Float32Array,
  u: Float32Array,
): Promise<Float32Array> {
  const B = x.shape[0],
    d = x.data.length / B;
  // The direction the Hessian is applied to: u, sign(g) ⊙ u, or (x − b) ⊙ u.
  const t = new Float32Array(B * d);
  for (let i = 0; i < t.length; i++) {
    t[i] = p.multiply
      ? (x.data[i] - (p.baseline ? p.baseline[i] : 0)) * u[i]
      : p.absolute
        ? Math.sign(G[i]) * u[i]
        : u[i];
  }
  const r = await gradientMean(model, p, x, seed, t);
  const out = r.hessianTangent!.data;
  if (p.multiply) for (let i = 0; i < out.length; i++) out[i] += G[i] * u[i];
  return out;
}

/** M from the raw gradient mean G. */
export function applyMultiplier(p: PreparedExplain, x: Tensor, G: Float32Array): Float32Array {
  if (p.multiply) return G.map((g, i) => g * (x.data[i] - (p.baseline ? p.baseline[i] : 0)));
  if (p.absolute) return G.map(Math.abs);
  return Float32Array.from(G);
}

export { gradientMean, attributionMap };
