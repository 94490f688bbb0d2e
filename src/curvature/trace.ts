import type { Model } from '../graph/model.js';
import type { Objective } from '../graph/objective.js';
import { seedKey } from '../noise/philox.js';
import type { Tensor } from '../tensor.js';
import { dot, norm, orthogonalize } from './linalg.js';
import type { CurvatureOperator } from './operators.js';
import {
  checkChoice,
  checkInt,
  checkOptions,
  checkProducts,
  checkSeed,
  operatorFor,
  type SpaceOptions,
} from './options.js';
import { rademacherVector, STREAM } from './random.js';
import { warnIfZero } from './surrogate.js';

export interface HessianTraceOptions extends SpaceOptions {
  /**
   * Operator applications per example: Hutchinson's probes (default 100, at least 2), or Hutch++'s budget
   * (at least 3: a third sketches, a third goes to the sketch's exact trace, the rest to Hutchinson).
   * Not used by 'exact', which takes d.
   */
  samples?: number;
  /**
   * 'hutchinson' (default): mean of zᵀHz over Rademacher z, with its standard error. 'hutch++': Meyer,
   * Musco, Musco & Woodruff (2021). 'exact': Σ_i e_iᵀ H e_i by d Hessian-vector products.
   */
  method?: 'hutchinson' | 'hutch++' | 'exact';
  /** Stops the call (an ABORTED error) when it fires; checked before every batched product. */
  signal?: AbortSignal;
  /** Seed of the probes (Philox); drawn and reported when omitted ('exact' ignores it). */
  seed?: number;
  /** Probe vectors per example in one batched call (x repeated that many times). Default: up to 128 rows per call. */
  batchSize?: number;
}

export interface HessianTraceResult {
  /** Per example (one value in the parameter space). */
  values: number[];
  /** Standard error of the stochastic part (Hutchinson; Hutch++'s residual estimate); absent for 'exact'. */
  stderr?: number[];
  /** Operator applications per example. */
  matvecs: number;
  seed: number | null;
}

const OPTIONS = ['samples', 'method', 'seed', 'batchSize', 'space', 'gaussNewton', 'signal'];

/** Applies the operator to `n` vectors per example, `chunk` per call: vecs(j, b) gives vector j of example b. */
export async function applyMany(
  op: CurvatureOperator,
  n: number,
  chunk: number,
  vecs: (j: number, b: number) => ArrayLike<number>,
  use: (j: number, b: number, v: ArrayLike<number>, hv: Float32Array) => void,
): Promise<void> {
  const B = op.batch,
    d = op.dim;
  for (let j0 = 0; j0 < n; j0 += chunk) {
    const k = Math.min(chunk, n - j0);
    const V = new Float32Array(k * B * d);
    const inputs: ArrayLike<number>[] = [];
    for (let j = 0; j < k; j++) {
      for (let b = 0; b < B; b++) {
        const v = vecs(j0 + j, b);
        inputs.push(v);
        V.set(v, (j * B + b) * d);
      }
    }
    const W = await op.applyBlock(V, k);
    for (let j = 0; j < k; j++) {
      for (let b = 0; b < B; b++) use(j0 + j, b, inputs[j * B + b], W.subarray((j * B + b) * d, (j * B + b + 1) * d));
    }
  }
}

/** The default block: as many vectors per call as keep it at about 128 rows (at least 1). */
export function defaultChunk(op: CurvatureOperator, n: number): number {
  return Math.max(1, Math.min(n, Math.floor(128 / op.batch)));
}

/**
 * The trace of the Hessian of the objective, per example of its input (default), of the Gauss–Newton input
 * Hessian (`gaussNewton: true`), or of the batch-mean objective over the parameters (`space: 'parameter'`).
 */
export async function hessianTrace(
  model: Model,
  x: Tensor,
  objective: Objective,
  options?: HessianTraceOptions,
): Promise<HessianTraceResult> {
  const o = checkOptions<HessianTraceOptions>('hessianTrace', options, OPTIONS);
  const method = checkChoice(
    'hessianTrace: method',
    o.method,
    ['hutchinson', 'hutch++', 'exact'] as const,
    'hutchinson',
  );
  const samples = checkInt('hessianTrace: samples', o.samples, 100, method === 'hutch++' ? 3 : 2);
  const op = operatorFor('hessianTrace', model, x, objective, o);
  const B = op.batch,
    d = op.dim;
  const n = method === 'exact' ? d : samples;
  const chunk = checkInt('hessianTrace: batchSize', o.batchSize, defaultChunk(op, n), 1);
  checkProducts('hessianTrace', B * n);
  let r: HessianTraceResult;
  if (method === 'exact') {
    const values = new Array<number>(B).fill(0);
    const e = new Float32Array(d);
    // Vector j is e_j (the same for every example); (H e_j)_j is the diagonal entry.
    await applyMany(
      op,
      d,
      chunk,
      (j) => {
        e.fill(0);
        e[j] = 1;
        return e.slice();
      },
      (j, b, _v, hv) => {
        values[b] += hv[j];
      },
    );
    r = { values, matvecs: d, seed: null };
  } else {
    const seed = checkSeed(o.seed);
    const key = seedKey(seed);
    const probe = (stream: number) => (j: number, b: number) => rademacherVector(key, op.examples[b], j, stream, d);
    r =
      method === 'hutchinson'
        ? await hutchinson(op, samples, chunk, probe(STREAM.probe), seed)
        : await hutchPlusPlus(op, samples, chunk, probe(STREAM.sketch), probe(STREAM.probe), seed);
  }
  warnIfZero(r.values, 'trace');
  return r;
}

function meanAndStderr(xs: number[]): [number, number] {
  const n = xs.length;
  const mean = xs.reduce((a, c) => a + c, 0) / n;
  const variance = n > 1 ? xs.reduce((a, c) => a + (c - mean) ** 2, 0) / (n - 1) : NaN;
  return [mean, Math.sqrt(variance / n)];
}

async function hutchinson(
  op: CurvatureOperator,
  samples: number,
  chunk: number,
  probe: (j: number, b: number) => Float64Array,
  seed: number,
): Promise<HessianTraceResult> {
  const q: number[][] = Array.from({ length: op.batch }, () => []);
  await applyMany(op, samples, chunk, probe, (_j, b, z, hz) => {
    q[b].push(dot(z, hz));
  });
  const stats = q.map(meanAndStderr);
  return { values: stats.map((s) => s[0]), stderr: stats.map((s) => s[1]), matvecs: samples, seed };
}

/**
 * Hutch++ (Meyer et al. 2021, Algorithm 1) per example with m = samples matvecs: S (d × m/3) Rademacher,
 * Q = orth(H S), tr(Qᵀ H Q) exactly, plus Hutchinson with the remaining probes G projected off Q:
 * tr ≈ tr(QᵀHQ) + mean over g of ((I − QQᵀ)g)ᵀ H ((I − QQᵀ)g).
 */
async function hutchPlusPlus(
  op: CurvatureOperator,
  m: number,
  chunk: number,
  sketch: (j: number, b: number) => Float64Array,
  probe: (j: number, b: number) => Float64Array,
  seed: number,
): Promise<HessianTraceResult> {
  const B = op.batch,
    d = op.dim;
  const nS = Math.min(Math.floor(m / 3), d);
  const nG = m - 2 * nS;
  // 1. Sketch: H S, orthonormalised per example (dependent columns dropped).
  const Q: Float64Array[][] = Array.from({ length: B }, () => []);
  const HS: Float64Array[][] = Array.from({ length: B }, () => []);
  await applyMany(op, nS, chunk, sketch, (_j, b, _s, hs) => {
    HS[b].push(Float64Array.from(hs));
  });
  for (let b = 0; b < B; b++) {
    for (const y of HS[b]) {
      const before = norm(y);
      orthogonalize(y, Q[b]);
      const after = norm(y);
      if (after > 1e-6 * before && after > 0) {
        for (let i = 0; i < d; i++) y[i] /= after;
        Q[b].push(y);
      }
    }
  }
  // 2. tr(QᵀHQ): one product per column of Q (zero vectors pad examples with fewer columns).
  const zero = new Float64Array(d);
  const rank = Math.max(0, ...Q.map((q) => q.length));
  const exact = new Array<number>(B).fill(0);
  await applyMany(
    op,
    rank,
    chunk,
    (j, b) => Q[b][j] ?? zero,
    (j, b, q, hq) => {
      if (j < Q[b].length) exact[b] += dot(q, hq);
    },
  );
  // 3. Hutchinson on the deflated remainder.
  const rest: number[][] = Array.from({ length: B }, () => []);
  const deflated = (j: number, b: number) => {
    const g = probe(j, b);
    orthogonalize(g, Q[b], 2);
    return g;
  };
  await applyMany(op, nG, chunk, deflated, (_j, b, g, hg) => {
    rest[b].push(dot(g, hg));
  });
  const stats = rest.map(meanAndStderr);
  return {
    values: exact.map((t, b) => t + stats[b][0]),
    stderr: stats.map((s) => s[1]),
    matvecs: nS + rank + nG,
    seed,
  };
}
