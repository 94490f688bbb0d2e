import type { Backend, BTensor } from '../backend/backend.js';
import { checkInt, checkOptions, checkPositive, checkSeed } from '../curvature/options.js';
import { gaussianVector } from '../curvature/random.js';
import type { Model, ParamRecord } from '../graph/model.js';
import { checkClasses } from '../graph/objective.js';
import type { Graph } from '../graph/spec.js';
import { canReusePrimal, sweep, type PrimalCache } from '../graph/sweep.js';
import { seedKey } from '../noise/philox.js';
import { checkTensor, sizeOf, type Tensor } from '../tensor.js';

/** Philox stream of SSR's power-iteration start vectors (the curvature module uses 2–5). */
export const SSR_STREAM = 6;

/**
 * SSR (Smooth Surface Regularisation, Wang et al. 2020) on the device. λ_max of the Gauss–Newton input
 * Hessian G = Jᵀ A J of the cross-entropy (A = diag(p) − ppᵀ, J the input Jacobian of the logits) is
 * found by power iteration on G; at its unit top eigenvector w, λ = żᵀ A ż with ż = J w the logit
 * tangent along w. By the envelope theorem (w is a stationary point of the Rayleigh quotient)
 *   ∂λ/∂θ = (∂z/∂θ)ᵀ ∂λ/∂z + (∂ż/∂θ)ᵀ ∂λ/∂ż,
 * the VJP of θ ↦ (z, ż). That is one forward+tangent sweep along w and one backward2: seed g = ∂λ/∂ż on
 * the backward stream and gdot = ∂λ/∂z on its tangent; the parameter gradients' tangents are ∂λ/∂θ.
 */

/**
 * Power iteration on the Gauss–Newton products, recorded on the device: w ← G w / ‖G w‖, `iterations` times.
 * With `shared`, the forward values of x are computed once and kept in `shared.primal` (when every op has a
 * tangent-only pass): the later products and the SSR gradient sweep then run their tangents only. The
 * caller releases `shared.primal`.
 */
export function recordPowerIteration(
  be: Backend,
  graph: Graph,
  params: ReadonlyMap<string, BTensor>,
  x: BTensor,
  classes: BTensor,
  w0: BTensor,
  iterations: number,
  shared: { primal: PrimalCache | null } | null = null,
): BTensor {
  const B = x.shape[0];
  const reuse = !!shared && canReusePrimal(graph);
  let w = be.train.normalizeRows(w0, B);
  for (let i = 0; i < iterations; i++) {
    const r = sweep(be, graph, {
      x,
      xdot: w,
      params,
      head: { kind: 'gaussNewton', classes, scale: 1 },
      inputGrad: true,
      keepPrimal: reuse && !shared.primal,
      primal: reuse ? shared.primal : null,
    });
    if (r.primal) shared!.primal = r.primal;
    const next = be.train.normalizeRows(r.inputGrad!, B);
    r.release();
    be.release(w);
    w = next;
  }
  return w;
}

/**
 * The sweep that gives λ(w) per example [B] and scale·∂(Σ_b λ_b)/∂θ for unit rows w: forward+tangent along
 * w, SSR seeds on the logits, backward2. With `ce`, the gradients also hold ce.scale·∂(Σ_b CE_b)/∂θ: the
 * cross-entropy's seed rides on the tangent stream, so SSR's training loss needs this one sweep and no
 * separate cross-entropy pass. With `primal` (kept by recordPowerIteration at the same x and weights) the
 * forward values are read, not recomputed. The caller releases the returned tensors (`primal` stays).
 */
export function recordSsrGradient(
  be: Backend,
  graph: Graph,
  params: ReadonlyMap<string, BTensor>,
  x: BTensor,
  w: BTensor,
  scale: number,
  ce: { classes: BTensor; scale: number } | null = null,
  primal: PrimalCache | null = null,
): { lambda: BTensor; grads: Map<string, BTensor>; logits: BTensor; release(): void } {
  let lambda: BTensor | null = null;
  const r = sweep(be, graph, {
    x,
    xdot: w,
    params,
    primal, // the power iteration's forward of x, when it kept one: tangents only
    paramGrads: 'tangents', // λ's gradient is the tangent stream's; the primal weight gradients would be waste
    logitSeed: (z, zdot) => {
      const s = be.train.ssrSeeds(z, zdot!, scale, ce);
      lambda = s.lambda;
      return { g: s.g, gdot: s.gdot };
    },
  });
  const grads = new Map<string, BTensor>();
  for (const [name, pg] of r.paramGrads) grads.set(name, pg.gradDot!);
  // The sweep tracks every tensor it made (logits, gradients and their tangents); λ is the seeds' own.
  return {
    lambda: lambda!,
    grads,
    logits: r.logits,
    release: () => {
      r.release();
      be.release(lambda!);
    },
  };
}

/** Gaussian start vectors of power iteration, keyed by the seed, the example id and the draw (so batch-independent). */
export function ssrStartVectors(seed: number, exampleIds: readonly number[], draw: number, d: number): Float32Array {
  const key = seedKey(seed);
  const out = new Float32Array(exampleIds.length * d);
  exampleIds.forEach((id, b) => out.set(gaussianVector(key, id, draw, SSR_STREAM, d), b * d));
  return out;
}

export interface SsrCurvatureOptions {
  labels: number[];
  /** Most power iterations (default 200). */
  iterations?: number;
  /** Stop when every example's residual ‖G w − λ w‖ ≤ tol·λ (default 1e-4). */
  tol?: number;
  seed?: number;
}

export interface SsrCurvatureResult {
  /** λ_max of each example's Gauss–Newton input Hessian of the cross-entropy. */
  lambdaMax: number[];
  /** ∂(mean_b λ_max,b)/∂θ for every parameter (PyTorch names). */
  gradient: ParamRecord;
  /** Power iterations run (one batched Gauss–Newton product each). */
  iterations: number;
  /** Whether every example met the residual tolerance. */
  converged: boolean;
  seed: number;
}

/**
 * SSR's curvature term, exact: λ_max per example by power iteration on Gauss–Newton products (each one
 * batched model call, read back to test the residual), then its batch-mean gradient with respect to every
 * parameter in one more call (forward+tangent along the eigenvectors, backward2).
 */
export async function ssrCurvature(model: Model, x: Tensor, options: SsrCurvatureOptions): Promise<SsrCurvatureResult> {
  const o = checkOptions<SsrCurvatureOptions>('ssrCurvature', options, ['labels', 'iterations', 'tol', 'seed']);
  checkTensor('x', x, [-1, ...model.inputShape]);
  const B = x.shape[0],
    d = sizeOf(model.inputShape);
  const labels = checkClasses('ssrCurvature: labels', o.labels, B, model.classes);
  const maxIter = checkInt('ssrCurvature: iterations', o.iterations, 200, 1);
  const tol = checkPositive('ssrCurvature: tol', o.tol, 1e-4);
  const seed = checkSeed(o.seed);

  let w = ssrStartVectors(
    seed,
    labels.map((_, b) => b),
    0,
    d,
  );
  normalizeRowsHost(w, B, d);
  let iterations = 0,
    converged = false;
  while (iterations < maxIter) {
    const gw = (await model.gaussNewtonProduct(x, { shape: [...x.shape], data: w }, labels)).data;
    iterations++;
    // Residual of the Rayleigh pair (λ = wᵀGw, w) before moving on to Gw/‖Gw‖.
    converged = true;
    for (let b = 0; b < B; b++) {
      let lam = 0;
      for (let i = 0; i < d; i++) lam += w[b * d + i] * gw[b * d + i];
      let res = 0;
      for (let i = 0; i < d; i++) res += (gw[b * d + i] - lam * w[b * d + i]) ** 2;
      if (!(Math.sqrt(res) <= tol * Math.abs(lam))) converged = false;
    }
    w = gw;
    normalizeRowsHost(w, B, d);
    if (converged) break;
  }
  const names = Object.keys(model.parameters);
  const out = await model.withDevice(async (be, params) => {
    const xs = be.upload(x.data, x.shape, 'x'),
      ws = be.upload(w, x.shape, 'ssr eigenvectors');
    const r = recordSsrGradient(be, model.graph, params, xs, ws, 1 / B);
    try {
      return await be.read([r.lambda, ...names.map((n) => r.grads.get(n)!)]);
    } finally {
      r.release();
      be.release(xs, ws);
    }
  });
  const gradient: ParamRecord = {};
  names.forEach((n, i) => {
    gradient[n] = { shape: model.parameters[n], data: Float32Array.from(out[i + 1]) };
  });
  return { lambdaMax: Array.from(out[0]), gradient, iterations, converged, seed };
}

function normalizeRowsHost(v: Float32Array, rows: number, d: number): void {
  for (let b = 0; b < rows; b++) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += v[b * d + i] ** 2;
    const s = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let i = 0; i < d; i++) v[b * d + i] *= s;
  }
}
