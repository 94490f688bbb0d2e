import type { Model } from '../graph/model.js';
import type { Objective } from '../graph/objective.js';
import { seedKey } from '../noise/philox.js';
import type { Tensor } from '../tensor.js';
import { LanczosRun } from './lanczos.js';
import { axpy, dot, norm, orthogonalize } from './linalg.js';
import type { CurvatureOperator } from './operators.js';
import {
  checkBool,
  checkChoice,
  checkInt,
  checkOptions,
  checkPositive,
  checkHostVectors,
  checkProducts,
  checkSeed,
  operatorFor,
  type SpaceOptions,
} from './options.js';
import { gaussianVector, STREAM } from './random.js';
import { warnIfZero } from './surrogate.js';

export type EigenWhich = 'magnitude' | 'largest' | 'smallest';

export interface HessianEigenOptions extends SpaceOptions {
  /** How many eigenvalues per example. Default 1. */
  k?: number;
  /** 'magnitude' (largest |λ| first, default), 'largest' (descending) or 'smallest' (ascending). */
  which?: EigenWhich;
  /**
   * 'lanczos' (default): Lanczos with full reorthogonalisation, converged when the k wanted Ritz values'
   * residual bounds |β_m s_{m,i}| fall below tol·|θ_i|. 'power': power iteration with PyHessian's
   * defaults (100 iterations per eigenvalue, stop when the eigenvalue changes by less than tol relative,
   * deflation against the earlier eigenvectors for k > 1); 'largest'/'smallest' shift the operator by the
   * dominant eigenvalue's magnitude first.
   */
  method?: 'lanczos' | 'power';
  /** Lanczos: most steps (default min(d, max(128, 2k))). Power: most iterations per eigenvalue (default 100). */
  iterations?: number;
  /** Lanczos: relative residual bound (default 1e-5). Power: relative change of the eigenvalue (default 1e-3). */
  tol?: number;
  /** Stops the call (an ABORTED error) when it fires; checked before every batched product. */
  signal?: AbortSignal;
  /** Seed of the random start vectors (Philox); drawn and reported when omitted. */
  seed?: number;
  /** Also return the eigenvectors (unit norm). Default false. */
  vectors?: boolean;
}

export interface HessianEigenResult {
  /** Per example (one row in the parameter space): k eigenvalues in the order `which` asks for. */
  values: number[][];
  /** Per example: the eigenvectors [k, ...input shape] (or [k, parameters] in the parameter space), when asked for. */
  vectors?: Tensor[];
  /** Operator applications per example. */
  iterations: number[];
  /** Per example: whether the stopping rule was met before the iteration limit. */
  converged: boolean[];
  seed: number;
}

const OPTIONS = ['k', 'which', 'method', 'iterations', 'tol', 'seed', 'vectors', 'space', 'gaussNewton', 'signal'];

/**
 * The k extreme eigenvalues of the Hessian of the objective: per example of its input (default), of the
 * Gauss–Newton input Hessian (`gaussNewton: true`), or of the batch-mean objective over the parameters
 * (`space: 'parameter'`). Every step is one batched Hessian-vector product over all examples still running.
 */
export async function hessianEigen(
  model: Model,
  x: Tensor,
  objective: Objective,
  options?: HessianEigenOptions,
): Promise<HessianEigenResult> {
  const o = checkOptions<HessianEigenOptions>('hessianEigen', options, OPTIONS);
  const method = checkChoice('hessianEigen: method', o.method, ['lanczos', 'power'] as const, 'lanczos');
  const which = checkChoice('hessianEigen: which', o.which, ['magnitude', 'largest', 'smallest'] as const, 'magnitude');
  const op = operatorFor('hessianEigen', model, x, objective, o);
  const d = op.dim;
  const k = checkInt('hessianEigen: k', o.k, 1, 1, d);
  const iterations =
    method === 'lanczos'
      ? checkInt('hessianEigen: iterations', o.iterations, Math.min(d, Math.max(128, 2 * k)), k)
      : checkInt('hessianEigen: iterations', o.iterations, 100, 1);
  const tol = checkPositive('hessianEigen: tol', o.tol, method === 'lanczos' ? 1e-5 : 1e-3);
  const wantVectors = checkBool('hessianEigen: vectors', o.vectors, false);
  if (method === 'lanczos') checkHostVectors('hessianEigen', op.batch * (Math.min(iterations, d) + 1) * d);
  checkProducts(
    'hessianEigen',
    op.batch * (method === 'lanczos' ? Math.min(iterations, d) : iterations * (k + (which === 'magnitude' ? 0 : 1))),
  );
  const seed = checkSeed(o.seed);
  const key = seedKey(seed);
  const start = (example: number) => (sample: number) => gaussianVector(key, example, sample, STREAM.start, d);

  const r =
    method === 'lanczos'
      ? await lanczosEigen(op, k, which, Math.min(iterations, d), tol, start, wantVectors)
      : await powerEigen(op, k, which, iterations, tol, start, wantVectors);
  warnIfZero(r.values, 'eigenvalues');
  const shape = op.space === 'input' ? model.inputShape : [d];
  const result: HessianEigenResult = { values: r.values, iterations: r.iterations, converged: r.converged, seed };
  if (wantVectors) {
    result.vectors = r.vectors!.map((vs) => {
      const data = new Float32Array(k * d);
      vs.forEach((v, i) => data.set(v, i * d));
      return { shape: [k, ...shape], data };
    });
  }
  return result;
}

interface EigenRun {
  values: number[][];
  vectors?: Float64Array[][];
  iterations: number[];
  converged: boolean[];
}

/** Indices of the wanted Ritz values (θ ascending) in the order of `which`. */
function pick(theta: Float64Array, k: number, which: EigenWhich): number[] {
  const idx = Array.from(theta, (_, i) => i);
  if (which === 'largest') idx.reverse();
  else if (which === 'magnitude') idx.sort((a, b) => Math.abs(theta[b]) - Math.abs(theta[a]) || theta[b] - theta[a]);
  return idx.slice(0, k);
}

/** Operator applied to one float64 vector per row (rows: positions in `op`), as a float32 block. */
async function applyRows(
  op: CurvatureOperator,
  active: readonly number[],
  vecs: readonly Float64Array[],
): Promise<Float32Array> {
  const d = op.dim;
  const sub = active.length === op.batch ? op : op.restrict(active);
  const V = new Float32Array(active.length * d);
  vecs.forEach((v, i) => V.set(v, i * d));
  return sub.apply(V);
}

async function lanczosEigen(
  op: CurvatureOperator,
  k: number,
  which: EigenWhich,
  maxSteps: number,
  tol: number,
  start: (example: number) => (sample: number) => Float64Array,
  wantVectors: boolean,
): Promise<EigenRun> {
  const B = op.batch,
    d = op.dim;
  const runs = op.examples.map((ex) => new LanczosRun(d, start(ex)));
  const done = new Array<boolean>(B).fill(false);
  const converged = new Array<boolean>(B).fill(false);
  const out: EigenRun = { values: new Array(B), iterations: new Array(B).fill(0), converged };
  if (wantVectors) out.vectors = new Array(B);
  const finish = (b: number, ok: boolean) => {
    const run = runs[b];
    const { values, vectors } = run.ritz();
    const idx = pick(values, k, which);
    out.values[b] = idx.map((i) => values[i]);
    if (wantVectors) out.vectors![b] = idx.map((i) => run.ritzVector(vectors[i]));
    out.iterations[b] = run.steps;
    converged[b] = ok;
    done[b] = true;
  };
  while (done.some((x) => !x)) {
    const active = done.flatMap((x, b) => (x ? [] : [b]));
    const W = await applyRows(
      op,
      active,
      active.map((b) => runs[b].current),
    );
    active.forEach((b, i) => {
      const run = runs[b];
      run.step(W.subarray(i * d, (i + 1) * d));
      if (run.exhausted) return finish(b, true); // T spans an invariant subspace: its Ritz values are exact
      if (run.steps < k) return;
      const { values, vectors } = run.ritz();
      const beta = run.residualNorm;
      const floor = 2 ** -23 * Math.max(...Array.from(values, Math.abs)); // what float32 products resolve
      const ok = pick(values, k, which).every(
        (i) => Math.abs(beta * vectors[i][run.steps - 1]) <= tol * Math.max(Math.abs(values[i]), floor),
      );
      if (ok || run.steps >= maxSteps) finish(b, ok);
    });
  }
  return out;
}

/**
 * Power iteration as in PyHessian (Yao et al. 2020, `hessian.eigenvalues`): v ← orth(v) against the earlier
 * eigenvectors and normalised, λ = vᵀHv, v ← Hv/|Hv|, until |λ − λ_prev| / (|λ_prev| + 1e-6) < tol. All
 * examples iterate in lockstep; a converged example leaves the batch. For 'largest' ('smallest') the
 * operator is shifted by +c (−c), c = |λ_dom| from a first unshifted run, so the wanted end dominates.
 */
async function powerEigen(
  op: CurvatureOperator,
  k: number,
  which: EigenWhich,
  maxIter: number,
  tol: number,
  start: (example: number) => (sample: number) => Float64Array,
  wantVectors: boolean,
): Promise<EigenRun> {
  const B = op.batch,
    d = op.dim;
  const draw = op.examples.map((ex) => start(ex));
  const iterations = new Array<number>(B).fill(0);
  const converged = new Array<boolean>(B).fill(true);
  const found: Float64Array[][] = Array.from({ length: B }, () => []);
  const values: number[][] = Array.from({ length: B }, () => []);
  let sample = 0;
  const normalize = (v: Float64Array) => {
    const n = norm(v);
    if (n > 0) for (let i = 0; i < v.length; i++) v[i] /= n;
  };

  /** One eigenpair per example of H + shift_b·I, deflated against `found`; returns the shifted eigenvalues. */
  const one = async (shift: number[]): Promise<{ lambda: number[]; v: Float64Array[] }> => {
    const s = sample++;
    const v = draw.map((g) => g(s));
    const lambda = new Array<number>(B).fill(NaN);
    const done = new Array<boolean>(B).fill(false);
    for (let it = 0; it < maxIter && done.some((x) => !x); it++) {
      const active = done.flatMap((x, b) => (x ? [] : [b]));
      for (const b of active) {
        orthogonalize(v[b], found[b]);
        normalize(v[b]);
      }
      const W = await applyRows(
        op,
        active,
        active.map((b) => v[b]),
      );
      active.forEach((b, i) => {
        const hv = Float64Array.from(W.subarray(i * d, (i + 1) * d));
        if (shift[b] !== 0) axpy(shift[b], v[b], hv);
        iterations[b]++;
        const l = dot(hv, v[b]);
        const n = norm(hv);
        const prev = lambda[b];
        lambda[b] = l;
        if (n === 0) {
          done[b] = true;
          return;
        } // v is in the null space: λ = 0 exactly
        for (let j = 0; j < d; j++) v[b][j] = hv[j] / n;
        if (!Number.isNaN(prev) && Math.abs(l - prev) / (Math.abs(prev) + 1e-6) < tol) done[b] = true;
      });
    }
    done.forEach((x, b) => {
      if (!x) converged[b] = false;
    });
    for (let b = 0; b < B; b++) {
      orthogonalize(v[b], found[b]);
      normalize(v[b]);
    }
    return { lambda, v };
  };

  let shift = new Array<number>(B).fill(0);
  if (which !== 'magnitude') {
    const dom = await one(shift);
    shift = dom.lambda.map((l) => (which === 'largest' ? 1 : -1) * Math.abs(l));
  }
  for (let i = 0; i < k; i++) {
    const r = await one(shift);
    for (let b = 0; b < B; b++) {
      values[b].push(r.lambda[b] - shift[b]);
      found[b].push(r.v[b]);
    }
  }
  // Report in the order of `which` (deflation finds them in that order up to convergence noise).
  const key = (l: number) => (which === 'largest' ? -l : which === 'smallest' ? l : -Math.abs(l));
  const sorted = values.map((vals, b) => {
    const idx = vals.map((_, i) => i).sort((a, c) => key(vals[a]) - key(vals[c]));
    return { vals: idx.map((i) => vals[i]), vecs: idx.map((i) => found[b][i]) };
  });
  return {
    values: sorted.map((s) => s.vals),
    vectors: wantVectors ? sorted.map((s) => s.vecs) : undefined,
    iterations,
    converged,
  };
}
