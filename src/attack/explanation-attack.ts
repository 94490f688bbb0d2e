import { resolveSeed } from '../noise/seed.js';
import { attributionMap } from '../attribution/methods.js';
import { fail } from '../errors.js';
import {
  choice,
  int,
  options as validateOptions,
  positive,
  range as rangeOption,
  checkpoint,
  show,
  signal,
  throwIfAborted,
} from '../validate.js';
import { Model } from '../graph/model.js';
import { checkClasses } from '../graph/objective.js';
import { checkWork } from '../limits.js';
import { checkTensor, type Tensor } from '../tensor.js';
import { softplusSurrogate } from '../curvature/surrogate.js';
import {
  applyMultiplier,
  checkExplainSpec,
  explainVjp,
  gradientMean,
  prepareExplain,
  type ExplainSpec,
  type PreparedExplain,
} from './explain.js';
import { argmaxRows, project, type Norm } from './project.js';

// Attacks on explanations: move the attribution map while the prediction stays.
//   'topk'          Ghorbani et al. 2019: drain the attribution mass of the clean map's top-k pixels.
//   'centerOfMass'  Ghorbani et al. 2019: push the map's centre of mass away from the clean one.
//   'targeted'      Dombrowski et al. 2019: make the map match a target map, keeping the logits
//                   (loss 1e11·MSE(map, target) + 1e6·MSE(logits, clean logits), their weights).
// Maps are post-processed as in the paper (Σ_c |M|, normalised to sum to H·W; the targeted loss compares
// maps normalised to sum to 1, as Dombrowski et al. do). Iterates take sign-gradient steps (L∞) or
// normalised-gradient steps (L2), are projected onto the ε-ball around x and clipped to the valid range;
// only iterates that keep the model's predicted label count, and the best by the attack's measure is
// returned, not the last. Gradients are exact (Jᵀu of the map through HVPs) and taken on `surrogate`:
// by default the model itself if it has no ReLU, else its softplus(β = surrogateBeta, default 10) surrogate,
// since a ReLU network's input Hessian is zero almost everywhere; the effect is measured on `model`. SmoothGrad and
// Uniform Gradient draw fresh noise every iteration (an expectation over the noise).

export type ExplanationAttack = 'topk' | 'centerOfMass' | 'targeted';

export interface ExplanationAttackOptions {
  attack: ExplanationAttack;
  explain: ExplainSpec;
  epsilon: number;
  norm?: Norm; // default 'linf'
  stepSize?: number; // default epsilon / 10 (linf), epsilon / 5 (l2)
  iterations?: number; // default 50
  range?: [number, number]; // default [0, 1]
  k?: number; // topk: pixels (default 10% of H·W)
  targetMap?: Tensor; // targeted: [B, H, W] or [H, W]
  surrogate?: Model;
  /** β of the default softplus surrogate of a ReLU model (default 10). */
  surrogateBeta?: number;
  seed?: number;
  /** Seed of the noise with which maps are measured on `model` (fixed across iterations so they compare). */
  measureSeed?: number;
  /** Stops the attack (an ABORTED error) when it fires; checked before every iteration. */
  signal?: AbortSignal;
  /**
   * Called after each iteration with (iterations done, iterations, progress): for progress displays and live
   * views. `progress.best()` gives the best label-preserving iterate so far; the attack awaits a returned
   * promise (so a page can draw it and yield to the browser) before the next iteration.
   */
  onIteration?: (done: number, iterations: number, progress: ExplanationAttackProgress) => unknown;
}

/** The attack's state after an iteration, for `onIteration`. */
export interface ExplanationAttackProgress {
  /**
   * The best label-preserving iterate so far per example, its map and the measure: what the attack would
   * return if it stopped now (after the last iteration: the returned values). Computed only when called:
   * copies of B·C·H·W + 2·B·H·W floats, no device readbacks or model evaluations (the attack keeps the
   * best iterate and its map on the host anyway).
   */
  best(): ExplanationAttackSnapshot;
}

export type ExplanationAttackSnapshot = Pick<
  ExplanationAttackResult,
  'adversarial' | 'originalMap' | 'attackedMap' | 'measure' | 'bestIteration'
>;

export interface ExplanationAttackResult {
  adversarial: Tensor;
  originalMap: Tensor; // [B, H, W], post-processed
  attackedMap: Tensor; // [B, H, W] at the returned iterate
  measure: { name: 'topKIntersection' | 'centerOfMassDislocation' | 'targetMse'; before: number[]; after: number[] };
  labelPreserved: boolean[];
  /** Iteration of the returned iterate per example (0: the clean input, no label-preserving iterate improved). */
  bestIteration: number[];
  seed: number;
}

const OPTIONS = [
  'attack',
  'explain',
  'epsilon',
  'norm',
  'stepSize',
  'iterations',
  'range',
  'k',
  'targetMap',
  'surrogate',
  'surrogateBeta',
  'seed',
  'measureSeed',
  'signal',
  'onIteration',
];

export async function attackExplanation(
  model: Model,
  x: Tensor,
  options: ExplanationAttackOptions,
): Promise<ExplanationAttackResult> {
  const fn = 'attackExplanation';
  if (!(model instanceof Model))
    fail('INVALID_ARGUMENT', `${fn}: model must be a Model from loadModel(), got ${show(model)}`);
  checkTensor('x', x, [-1, ...model.inputShape]);
  if (model.inputShape.length !== 3)
    fail('INVALID_ARGUMENT', `explanation attacks need image inputs [C, H, W], the model takes [${model.inputShape}]`);
  const o = validateOptions(fn, options, OPTIONS, true) as unknown as ExplanationAttackOptions;
  const attack = choice(`${fn}: attack`, o.attack, ['topk', 'centerOfMass', 'targeted'] as const, undefined as never);
  if (attack === undefined) fail('INVALID_ARGUMENT', `${fn}: attack is required: 'topk', 'centerOfMass' or 'targeted'`);
  const norm = choice(`${fn}: norm`, o.norm, ['linf', 'l2'] as const, 'linf');
  const epsilon = positive(`${fn}: epsilon`, o.epsilon);
  const iterations = int(`${fn}: iterations`, o.iterations, 50, 1);
  const step = positive(`${fn}: stepSize`, o.stepSize, norm === 'linf' ? epsilon / 10 : epsilon / 5);
  const range = rangeOption(`${fn}: range`, o.range, [0, 1]);
  if (o.surrogate !== undefined && !(o.surrogate instanceof Model))
    fail('INVALID_ARGUMENT', `${fn}: surrogate must be a Model, got ${show(o.surrogate)}`);
  const surrogateBeta = positive(`${fn}: surrogateBeta`, o.surrogateBeta, 10);
  const abort = signal(`${fn}: signal`, o.signal);
  if (o.onIteration !== undefined && typeof o.onIteration !== 'function')
    fail('INVALID_ARGUMENT', `${fn}: onIteration must be a function, got ${show(o.onIteration)}`);
  const B0 = x.shape[0];
  // The explained class: given (checked against the model's classes) or, below, the clean prediction.
  const givenTarget =
    o.explain?.target === undefined
      ? undefined
      : checkClasses(`${fn}: explain.target`, o.explain.target, B0, model.classes);
  const evaluations = checkExplainSpec(`${fn}: explain`, o.explain);
  checkWork('attackIterations', iterations, `${fn}: the iterations`, 'use fewer iterations');
  checkWork(
    'attackEvaluations',
    3 * iterations * evaluations * B0,
    `${fn}: the gradient evaluations (3 × iterations × the map's samples × examples)`,
    'use fewer iterations, samples or examples',
  );
  if (attack === 'targeted' && (o.targetMap === undefined || o.targetMap === null))
    fail('INVALID_ARGUMENT', `${fn}: the 'targeted' attack needs targetMap ([B, H, W] or [H, W])`);
  if (attack !== 'targeted' && o.targetMap !== undefined)
    fail('INVALID_ARGUMENT', `${fn}: targetMap applies to the 'targeted' attack only`);
  throwIfAborted(abort, fn);
  const hasRelu = model.graph.ops.some((op) => op.type === 'relu');
  const surrogate = o.surrogate ?? (hasRelu ? softplusSurrogate(model, surrogateBeta) : model);
  if (surrogate.classes !== model.classes || surrogate.inputShape.join() !== model.inputShape.join()) {
    fail('INVALID_ARGUMENT', 'surrogate must take the same input and give the same classes as the model');
  }
  const seed = resolveSeed(o.seed);
  const measureSeed = o.measureSeed === undefined ? seed : resolveSeed(o.measureSeed);
  const [B, C, H, W] = x.shape,
    hw = H * W,
    d = C * hw;

  const logits0 = await model.forward(x);
  const labels = argmaxRows(logits0.data, B, model.classes);
  const target = givenTarget ?? labels;
  const onModel = prepareExplain(model, x, o.explain, target);
  const onSurrogate = prepareExplain(surrogate, x, o.explain, target);
  onModel.base.signal = abort; // the maps' sampling stops between chunks too
  onSurrogate.base.signal = abort;
  const post = async (m: Model, p: PreparedExplain, at: Tensor, s: number) => {
    const G = (await gradientMean(m, p, at, s)).attributions.data;
    const M = applyMultiplier(p, at, G);
    return { G, M, P: attributionMap({ shape: [B, C, H, W], data: M }).data };
  };
  const P0 = (await post(model, onModel, x, measureSeed)).P;

  // The attack's loss on a post-processed map P (per example) and ∂loss/∂P; the measure to keep the best by.
  const k = int(`${fn}: k`, o.k, Math.max(1, Math.round(0.1 * hw)), 1, hw);
  const topk0 = Array.from({ length: B }, (_, b) => topIndices(P0.subarray(b * hw, (b + 1) * hw), k));
  const com0 = Array.from({ length: B }, (_, b) => centerOf(P0.subarray(b * hw, (b + 1) * hw), W));
  let targetMap: Float32Array | null = null;
  if (o.attack === 'targeted') {
    if (!o.targetMap) fail('INVALID_ARGUMENT', "the 'targeted' attack needs targetMap ([B, H, W] or [H, W])");
    const one = o.targetMap.shape?.length === 2;
    const t = checkTensor('targetMap', o.targetMap, one ? [H, W] : [B, H, W]);
    targetMap = new Float32Array(B * hw);
    for (let b = 0; b < B; b++) {
      const src = one ? t.data : t.data.subarray(b * hw, (b + 1) * hw);
      const s = src.reduce((a, v) => a + Math.abs(v), 0);
      if (!(s > 0)) fail('INVALID_ARGUMENT', `targetMap for example ${b} is all zero`);
      for (let i = 0; i < hw; i++) targetMap[b * hw + i] = Math.abs(src[i]) / s;
    }
  }
  const measureName =
    o.attack === 'topk' ? 'topKIntersection' : o.attack === 'centerOfMass' ? 'centerOfMassDislocation' : 'targetMse';
  const measure = (P: Float32Array, b: number): number => {
    const p = P.subarray(b * hw, (b + 1) * hw);
    if (o.attack === 'topk') {
      const now = new Set(topIndices(p, k));
      return topk0[b].filter((i) => now.has(i)).length / k;
    }
    if (o.attack === 'centerOfMass') {
      const c = centerOf(p, W);
      return Math.hypot(c[0] - com0[b][0], c[1] - com0[b][1]);
    }
    let s = 0;
    for (let i = 0; i < hw; i++) s += (p[i] / hw - targetMap![b * hw + i]) ** 2;
    return s / hw;
  };
  const better = (a: number, b: number) => (o.attack === 'centerOfMass' ? a > b : a < b);

  // ∂loss/∂P for the loss being minimised.
  const mapCotangent = (P: Float32Array, it: number): Float32Array => {
    const v = new Float32Array(B * hw);
    for (let b = 0; b < B; b++) {
      const p = P.subarray(b * hw, (b + 1) * hw);
      if (o.attack === 'topk') {
        for (const i of topk0[b]) v[b * hw + i] = 1; // minimise the mass left on the clean top-k
      } else if (o.attack === 'centerOfMass') {
        // minimise −|C(P) − C0|; C(P) = Σ_p P_p·(row, col)/(H·W) since P sums to H·W.
        const c = centerOf(p, W);
        let dr = c[0] - com0[b][0],
          dc = c[1] - com0[b][1],
          n = Math.hypot(dr, dc);
        if (n < 1e-9) {
          // no direction yet: a seeded one
          const a = 2 * Math.PI * (((seed + 7919 * (it + 1) + 104729 * b) % 1000) / 1000);
          dr = Math.cos(a);
          dc = Math.sin(a);
          n = 1;
        }
        for (let i = 0; i < hw; i++) v[b * hw + i] = -((dr / n) * Math.floor(i / W) + (dc / n) * (i % W)) / hw;
      } else {
        // 1e11·mean((P/HW − T)²) on maps normalised to sum to 1.
        for (let i = 0; i < hw; i++) v[b * hw + i] = (1e11 * 2 * (p[i] / hw - targetMap![b * hw + i])) / hw / hw;
      }
    }
    return v;
  };

  let xAdv: Tensor = { shape: [...x.shape], data: Float32Array.from(x.data) };
  const best = {
    x: Float32Array.from(x.data),
    value: Array.from({ length: B }, (_, b) => measure(P0, b)),
    iteration: new Array(B).fill(0),
    P: Float32Array.from(P0),
  };
  const preserved = new Array(B).fill(true);
  const before = Array.from({ length: B }, (_, b) => measure(P0, b));
  const snapshot = (): ExplanationAttackSnapshot => ({
    adversarial: { shape: [...x.shape], data: Float32Array.from(best.x) },
    originalMap: { shape: [B, H, W], data: Float32Array.from(P0) },
    attackedMap: { shape: [B, H, W], data: Float32Array.from(best.P) },
    measure: { name: measureName, before: [...before], after: [...best.value] },
    bestIteration: [...best.iteration],
  });
  const progress: ExplanationAttackProgress = { best: snapshot };
  for (let it = 1; it <= iterations; it++) {
    await checkpoint(abort, `${fn} (after ${it - 1} of ${iterations} iterations)`);
    const s = seed + it; // fresh noise every iteration (SmoothGrad, Uniform Gradient)
    const { G, M, P } = await post(surrogate, onSurrogate, xAdv, s);
    const u = mapToRawCotangent(mapCotangent(P, it), M, P, B, C, hw);
    const grad = await explainVjp(surrogate, onSurrogate, xAdv, s, G, u);
    if (o.attack === 'targeted') {
      // + 1e6·mean((z − z0)²): its gradient is the logits' vector-Jacobian product with 2·1e6·(z − z0)/K.
      const z = (await surrogate.forward(xAdv)).data,
        K = model.classes;
      const cot = z.map((zi, i) => (2e6 * (zi - logits0.data[i])) / K);
      const gz = (await surrogate.logitsVjp(xAdv, { shape: [B, K], data: cot })).data;
      for (let i = 0; i < grad.length; i++) grad[i] += gz[i];
    }
    // Descend: x ← proj(x − step·direction(∇)).
    xAdv = { shape: x.shape, data: project(xAdv.data, grad, x.data, -step, o.epsilon, norm, range, B, d) };
    // Measure on the model itself: the label must stay, and the map is judged with the fixed measure seed.
    const now = argmaxRows((await model.forward(xAdv)).data, B, model.classes);
    const Pm = (await post(model, onModel, xAdv, measureSeed)).P;
    for (let b = 0; b < B; b++) {
      if (now[b] !== labels[b]) continue;
      const value = measure(Pm, b);
      if (better(value, best.value[b])) {
        best.value[b] = value;
        best.iteration[b] = it;
        best.x.set(xAdv.data.subarray(b * d, (b + 1) * d), b * d);
        best.P.set(Pm.subarray(b * hw, (b + 1) * hw), b * hw);
      }
    }
    await o.onIteration?.(it, iterations, progress);
  }
  const finalLabels = argmaxRows((await model.forward({ shape: x.shape, data: best.x })).data, B, model.classes);
  finalLabels.forEach((l, b) => {
    preserved[b] = l === labels[b];
  });
  return { ...snapshot(), labelPreserved: preserved, seed };
}

/**
 * ∂loss/∂M from ∂loss/∂P for P = H·W·Σ_c|M| / Σ|M|: with S = Σ|M| and v = ∂loss/∂P,
 * ∂loss/∂M_{c,q} = sign(M_{c,q})·(H·W/S)·(v_q − Σ_p v_p P_p / (H·W)).
 */
export function mapToRawCotangent(
  v: Float32Array,
  M: Float32Array,
  P: Float32Array,
  B: number,
  C: number,
  hw: number,
): Float32Array {
  const u = new Float32Array(B * C * hw);
  for (let b = 0; b < B; b++) {
    let S = 0,
      vp = 0;
    for (let i = 0; i < C * hw; i++) S += Math.abs(M[b * C * hw + i]);
    if (S === 0) continue;
    for (let q = 0; q < hw; q++) vp += v[b * hw + q] * P[b * hw + q];
    vp /= hw;
    for (let c = 0; c < C; c++)
      for (let q = 0; q < hw; q++) {
        const i = b * C * hw + c * hw + q;
        u[i] = Math.sign(M[i]) * (hw / S) * (v[b * hw + q] - vp);
      }
  }
  return u;
}

/** Indices of the k largest values (ties: lower index first). */
function topIndices(p: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: p.length }, (_, i) => i)
    .sort((a, b) => p[b] - p[a] || a - b)
    .slice(0, k);
}

/** Centre of mass (row, col) of a non-negative map of width W. */
function centerOf(p: ArrayLike<number>, W: number): [number, number] {
  let s = 0,
    r = 0,
    c = 0;
  for (let i = 0; i < p.length; i++) {
    s += p[i];
    r += p[i] * Math.floor(i / W);
    c += p[i] * (i % W);
  }
  return s > 0 ? [r / s, c / s] : [NaN, NaN];
}
