import { decode } from 'fast-png';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  densityPlotPng,
  flattenParams,
  hessianDensity,
  hessianEigen,
  hessianTrace,
  inputHessianOperator,
  paramHessianOperator,
  softplusSurrogate,
  unflattenParams,
  warnIfZero,
} from '../src/curvature/index.js';
import type { Engine } from '../src/engine.js';
import { SmoothgeoError } from '../src/errors.js';
import { loadModel, Model } from '../src/graph/model.js';
import type { Objective } from '../src/graph/objective.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import type { Tensor } from '../src/tensor.js';
import { rademacherVector, STREAM } from '../src/curvature/random.js';
import { seedKey } from '../src/noise/philox.js';
import { BACKENDS, cpuEngine, oracleCases, randomTensor, rng, type OracleCase } from './helpers.js';

/*
 * Curvature algorithms against the PyTorch oracle (exact eigenvalues and traces of the cross-entropy's input
 * Hessian) and against dense float64 Hessians built column by column on small models.
 *
 * What runs where, and why (measured on this 2-core machine, SwiftShader WebGPU):
 *   - cpu (float64 reference engine): every oracle case, every check.
 *   - webgpu: every oracle case for everything the oracle has: λ_max, λ_min, top-3 |λ| and Gauss–Newton λ_max
 *     by Lanczos (LeNet: ~25 steps of one batched HVP each, ~7 s a run) and the exact trace (LeNet: d = 784
 *     HVPs per example, ~36 s on SwiftShader).
 *   - Stochastic estimators (Hutchinson, SLQ) on webgpu are compared with cpu on the same seed: the probes are
 *     the same Philox vectors on both, so only float32 rounding may differ (1e-4 of the per-probe spread).
 *     A "within 4 standard errors of the oracle" check is not used there: at 16–64 probes that window is
 *     20–60× the trace and accepts an estimator that returns 0. On cpu, the estimate is recomputed here from
 *     its probes, and the statistical check is sized so that its window excludes 0 (LeNet example 1, 512 probes).
 */

const relErr = (got: number, want: number) => Math.abs(got - want) / Math.abs(want);
const ce = (c: OracleCase): Objective => ({ kind: 'crossEntropy', labels: c.json.labels });

async function rejects(fn: () => unknown, message: RegExp, code = 'INVALID_ARGUMENT'): Promise<void> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an error').toBeInstanceOf(SmoothgeoError);
  expect((err as SmoothgeoError).code).toBe(code);
  expect((err as Error).message).toMatch(message);
}

/** Eigenvalues (ascending) of a dense symmetric matrix by cyclic Jacobi rotations, float64. */
function jacobiEigenvalues(A0: Float64Array[]): number[] {
  const n = A0.length;
  const A = A0.map((r) => Float64Array.from(r));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p][q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(A[p][q]) < 1e-300) continue;
        const theta = (A[q][q] - A[p][p]) / (2 * A[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1),
          s = t * c;
        for (let k = 0; k < n; k++) {
          // columns p, q
          const akp = A[k][p],
            akq = A[k][q];
          A[k][p] = c * akp - s * akq;
          A[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          // rows p, q
          const apk = A[p][k],
            aqk = A[q][k];
          A[p][k] = c * apk - s * aqk;
          A[q][k] = s * apk + c * aqk;
        }
      }
    }
  }
  return A.map((r, i) => r[i]).sort((a, b) => a - b);
}

const symmetrize = (H: Float64Array[]) => H.map((r, i) => r.map((v, j) => (v + H[j][i]) / 2));

/** Per-example dense input Hessians, column by column: d batched HVPs with v = e_i for every example. */
async function denseInputHessians(model: Model, x: Tensor, objective: Objective): Promise<Float64Array[][]> {
  const [B] = x.shape,
    d = x.data.length / B;
  const H = Array.from({ length: B }, () => Array.from({ length: d }, () => new Float64Array(d)));
  for (let i = 0; i < d; i++) {
    const v = { shape: x.shape, data: new Float32Array(B * d) };
    for (let b = 0; b < B; b++) v.data[b * d + i] = 1;
    const hv = await model.inputHvp(x, v, objective);
    for (let b = 0; b < B; b++) for (let r = 0; r < d; r++) H[b][r][i] = hv.data[b * d + r];
  }
  return H.map(symmetrize);
}

/** The dense parameter Hessian of the batch-mean objective, column by column with paramHvp. */
async function denseParamHessian(model: Model, x: Tensor, objective: Objective): Promise<Float64Array[]> {
  const P = Object.values(model.parameters).reduce((a, s) => a + s.reduce((p, q) => p * q, 1), 0);
  const H = Array.from({ length: P }, () => new Float64Array(P));
  for (let i = 0; i < P; i++) {
    const e = new Float32Array(P);
    e[i] = 1;
    const hv = flattenParams(model, await model.paramHvp(x, unflattenParams(model, e), objective));
    for (let r = 0; r < P; r++) H[r][i] = hv[r];
  }
  return symmetrize(H);
}

const order = (vals: number[], which: 'largest' | 'smallest' | 'magnitude') =>
  [...vals].sort((a, b) => (which === 'largest' ? b - a : which === 'smallest' ? a - b : Math.abs(b) - Math.abs(a)));

/** The small MLP of the dense checks: input [6], dense 5, tanh, dense 3. */
async function smallMlp(engine: Engine, seed = 5): Promise<{ model: Model; x: Tensor; objective: Objective }> {
  const r = rng(seed);
  const spec = {
    input: [6],
    layers: [{ type: 'dense', name: 'fc1', out: 5 }, { type: 'tanh' }, { type: 'dense', name: 'fc2', out: 3 }],
  };
  const w = {
    'fc1.weight': randomTensor([5, 6], r),
    'fc1.bias': randomTensor([5], r),
    'fc2.weight': randomTensor([3, 5], r),
    'fc2.bias': randomTensor([3], r),
  };
  const model = await loadModel(engine, spec, encodeSafetensors(w));
  return { model, x: randomTensor([3, 6], r), objective: { kind: 'crossEntropy', labels: [0, 2, 1] } };
}

// ───────────────────────────── the oracle ─────────────────────────────

const cases = oracleCases();
const backends = BACKENDS;

for (const [backend, engine] of backends) {
  describe(`curvature vs the oracle on ${backend}`, () => {
    for (const c of cases) {
      const load = async () => loadModel(await engine(), c.json.model, c.bytes, { prefix: 'param.' });
      const x = () => c.tensors.get('x')!;
      const want = c.json.hessian_ce as { lambda_max: number; lambda_min: number; trace: number; top3_abs: number[] }[];
      // See the header: on webgpu LeNet's Hutchinson check uses 16 probes (one call on 32 rows).
      const full = backend === 'cpu' || c.name === 'mlp';

      it(`${c.name}: λ_max and λ_min by Lanczos within 1e-3`, async () => {
        const model = await load();
        const hi = await hessianEigen(model, x(), ce(c), { which: 'largest', seed: 1 });
        const lo = await hessianEigen(model, x(), ce(c), { which: 'smallest', seed: 1 });
        want.forEach((w, b) => {
          expect(relErr(hi.values[b][0], w.lambda_max)).toBeLessThan(1e-3);
          expect(relErr(lo.values[b][0], w.lambda_min)).toBeLessThan(1e-3);
        });
        expect(hi.converged.every(Boolean) && lo.converged.every(Boolean)).toBe(true);
        expect(hi.seed).toBe(1);
      });

      it(`${c.name}: the top 3 by magnitude (signed) within 1e-3`, async () => {
        const r = await hessianEigen(await load(), x(), ce(c), { k: 3, which: 'magnitude', seed: 2 });
        want.forEach((w, b) => w.top3_abs.forEach((l, i) => expect(relErr(r.values[b][i], l)).toBeLessThan(1e-3)));
      });

      it(`${c.name}: Gauss–Newton λ_max within 1e-3 (gaussNewton: true)`, async () => {
        const r = await hessianEigen(await load(), x(), ce(c), { gaussNewton: true, seed: 3 });
        (c.json.gn_lambda_max as number[]).forEach((l, b) => expect(relErr(r.values[b][0], l)).toBeLessThan(1e-3));
      });

      it(`${c.name}: exact trace (d batched HVPs) within 1e-3`, async () => {
        const r = await hessianTrace(await load(), x(), ce(c), { method: 'exact' });
        want.forEach((w, b) => expect(relErr(r.values[b], w.trace)).toBeLessThan(1e-3));
        expect(r.stderr).toBeUndefined();
        expect(r.matvecs).toBe(x().data.length / x().shape[0]);
      });

      if (backend === 'cpu') {
        it(`${c.name}: Hutchinson's estimate is the mean of zᵀHz over its probes, its stderr their standard error`, async () => {
          const model = await load(),
            samples = 16,
            seed = 7;
          const r = await hessianTrace(model, x(), ce(c), { samples, seed });
          // The same Rademacher probes, applied here one by one with inputHvp: an independent path to zᵀHz.
          const B = x().shape[0],
            d = x().data.length / B,
            key = seedKey(seed);
          const q: number[][] = Array.from({ length: B }, () => []);
          for (let j = 0; j < samples; j++) {
            const z = new Float32Array(B * d);
            for (let b = 0; b < B; b++) z.set(rademacherVector(key, b, j, STREAM.probe, d), b * d);
            const hz = (await model.inputHvp(x(), { shape: x().shape, data: z }, ce(c))).data;
            for (let b = 0; b < B; b++) {
              let s = 0;
              for (let i = b * d; i < (b + 1) * d; i++) s += z[i] * hz[i];
              q[b].push(s);
            }
          }
          q.forEach((qb, b) => {
            const mean = qb.reduce((a, v) => a + v, 0) / samples;
            const sd = Math.sqrt(qb.reduce((a, v) => a + (v - mean) ** 2, 0) / (samples - 1));
            // float64 throughout; only the order of the sums differs.
            expect(Math.abs(r.values[b] - mean)).toBeLessThan(1e-9 * sd);
            expect(Math.abs(r.stderr![b] - sd / Math.sqrt(samples))).toBeLessThan(1e-9 * sd);
          });
        });
      } else {
        it(`${c.name}: Hutchinson on webgpu equals cpu with the same seed (1e-4 of the per-probe spread)`, async () => {
          const o = { samples: full ? 64 : 16, seed: 7 };
          const g = await hessianTrace(await load(), x(), ce(c), o);
          const r = await hessianTrace(
            await loadModel(await cpuEngine(), c.json.model, c.bytes, { prefix: 'param.' }),
            x(),
            ce(c),
            o,
          );
          r.values.forEach((v, b) => {
            // Each zᵀHz is a float32 dot product of d terms: its rounding is ~1e-6 of the probes' spread sd·√n.
            const scale = Math.max(Math.abs(v), r.stderr![b] * Math.sqrt(o.samples));
            expect(Math.abs(g.values[b] - v)).toBeLessThan(1e-4 * scale);
            expect(Math.abs(g.stderr![b] - r.stderr![b])).toBeLessThan(1e-4 * scale);
          });
        });
      }
    }

    it(`mlp: SLQ density: weights sum to 1, nodes within [λ_min, λ_max], each probe's mean is zᵀHz/d${backend === 'webgpu' ? ', equal to cpu with the same seed' : ''}`, async () => {
      const c = cases.find((k) => k.name === 'mlp')!;
      const model = await loadModel(await engine(), c.json.model, c.bytes, { prefix: 'param.' });
      const x = c.tensors.get('x')!,
        d = x.data.length / x.shape[0];
      const probes = backend === 'cpu' ? 8 : 4,
        iterations = backend === 'cpu' ? 64 : 32;
      const r = await hessianDensity(model, x, ce(c), { probes, iterations, seed: 11 });
      const perProbeMeans: number[][] = [];
      c.json.hessian_ce.forEach((w: { lambda_max: number; lambda_min: number; trace: number }, b: number) => {
        const { nodes, weights } = r.values[b];
        expect(Math.abs(weights.reduce((a, v) => a + v, 0) - 1)).toBeLessThan(1e-12);
        const slack = 1e-5 * Math.max(Math.abs(w.lambda_max), Math.abs(w.lambda_min));
        for (const n of nodes) {
          expect(n).toBeGreaterThanOrEqual(w.lambda_min - slack);
          expect(n).toBeLessThanOrEqual(w.lambda_max + slack);
        }
        // Per probe, Σ_i θ_i S_0i² = v̂ᵀHv̂ = zᵀHz/d: the mean is Hutchinson's tr/d; its stderr from the probes.
        let at = 0;
        const perProbe = r.steps[b].map((m) => {
          let s = 0;
          for (let i = at; i < at + m; i++) s += nodes[i] * weights[i] * probes;
          at += m;
          return s;
        });
        const mean = perProbe.reduce((a, v) => a + v, 0) / probes;
        expect(Math.abs(nodes.reduce((a, n, i) => a + n * weights[i], 0) - mean)).toBeLessThan(1e-12);
        perProbeMeans.push(perProbe);
      });
      // Not "within 4 standard errors of tr/d": at 4–8 probes that window is wider than |tr/d| and accepts 0.
      // cpu: each probe's mean is zᵀHz/d for its Rademacher z, recomputed here with inputHvp (float64).
      // webgpu: the same probes as cpu (same seed), so the same numbers up to float32 rounding.
      if (backend === 'cpu') {
        const key = seedKey(11);
        for (let j = 0; j < probes; j++) {
          const z = new Float32Array(x.data.length);
          for (let b = 0; b < x.shape[0]; b++) z.set(rademacherVector(key, b, j, STREAM.density, d), b * d);
          const hz = (await model.inputHvp(x, { shape: x.shape, data: z }, ce(c))).data;
          perProbeMeans.forEach((pm, b) => {
            let q = 0;
            for (let i = b * d; i < (b + 1) * d; i++) q += z[i] * hz[i];
            expect(Math.abs(pm[j] - q / d)).toBeLessThan(1e-6 * Math.abs(q / d) + 1e-12);
          });
        }
      } else {
        const cpuModel = await loadModel(await cpuEngine(), c.json.model, c.bytes, { prefix: 'param.' });
        const ref = await hessianDensity(cpuModel, x, ce(c), { probes, iterations, seed: 11 });
        ref.values.forEach((v, b) => {
          const scale = Math.max(...v.nodes.map(Math.abs));
          const m = (dn: { nodes: number[]; weights: number[] }) =>
            dn.nodes.reduce((a, n, i) => a + n * dn.weights[i], 0);
          expect(Math.abs(m(r.values[b]) - m(v))).toBeLessThan(1e-4 * scale);
          // The extreme Ritz values (the spectrum's edges) agree too.
          expect(Math.abs(Math.max(...r.values[b].nodes) - Math.max(...v.nodes))).toBeLessThan(1e-4 * scale);
          expect(Math.abs(Math.min(...r.values[b].nodes) - Math.min(...v.nodes))).toBeLessThan(1e-4 * scale);
        });
      }
    });
  });
}

describe("Hutchinson's statistics (cpu)", () => {
  it('oracle LeNet example 1 at 512 probes: within 4 standard errors of the exact trace, a window that excludes 0', async () => {
    const c = cases.find((k) => k.name === 'lenet')!;
    const model = await loadModel(await cpuEngine(), c.json.model, c.bytes, { prefix: 'param.' });
    const all = c.tensors.get('x')!,
      d = all.data.length / all.shape[0];
    const x = { shape: [1, ...all.shape.slice(1)], data: all.data.slice(d, 2 * d) };
    const trace: number = c.json.hessian_ce[1].trace; // 1.63; per-probe sd ≈ 2.9, so 512 probes give se ≈ 0.13
    const r = await hessianTrace(
      model,
      x,
      { kind: 'crossEntropy', labels: [c.json.labels[1]] },
      { samples: 512, seed: 31 },
    );
    // Sized so that an estimator returning 0 (or anything off by |trace|/2) fails: 4·se ≤ |trace|/2.
    expect(4 * r.stderr![0]).toBeLessThanOrEqual(Math.abs(trace) / 2);
    expect(Math.abs(r.values[0] - trace)).toBeLessThanOrEqual(4 * r.stderr![0]);
  });
});

// ───────────────────── dense Hessians on a small MLP (cpu) ─────────────────────

describe('curvature vs dense float64 Hessians (small MLP, cpu)', () => {
  it('input space: Lanczos finds every eigenvalue, in each order', async () => {
    const { model, x, objective } = await smallMlp(await cpuEngine());
    const dense = (await denseInputHessians(model, x, objective)).map(jacobiEigenvalues);
    for (const which of ['largest', 'smallest', 'magnitude'] as const) {
      const r = await hessianEigen(model, x, objective, { k: 6, which, seed: 4, vectors: true });
      dense.forEach((ev, b) => {
        const want = order(ev, which),
          scale = Math.max(...ev.map(Math.abs));
        r.values[b].forEach((l, i) => expect(Math.abs(l - want[i])).toBeLessThan(1e-6 * scale));
      });
      expect(r.vectors!.map((v) => v.shape)).toEqual([
        [6, 6],
        [6, 6],
        [6, 6],
      ]);
    }
  });

  it('input space: Ritz vectors are eigenvectors (|Hy − λy| small, |y| = 1)', async () => {
    const { model, x, objective } = await smallMlp(await cpuEngine());
    const r = await hessianEigen(model, x, objective, { k: 2, seed: 8, vectors: true });
    const d = 6;
    for (let i = 0; i < 2; i++) {
      const y = { shape: x.shape, data: new Float32Array(3 * d) };
      for (let b = 0; b < 3; b++) y.data.set(r.vectors![b].data.subarray(i * d, (i + 1) * d), b * d);
      const hy = await model.inputHvp(x, y, objective);
      for (let b = 0; b < 3; b++) {
        let res = 0,
          n = 0;
        for (let j = 0; j < d; j++) {
          res += (hy.data[b * d + j] - r.values[b][i] * y.data[b * d + j]) ** 2;
          n += y.data[b * d + j] ** 2;
        }
        expect(Math.abs(Math.sqrt(n) - 1)).toBeLessThan(1e-6);
        expect(Math.sqrt(res)).toBeLessThan(1e-5 * Math.abs(r.values[b][0]));
      }
    }
  });

  it('parameter space: Lanczos vs the dense parameter Hessian (all 53 eigenvalues, and the top 3 by magnitude)', async () => {
    const { model, x, objective } = await smallMlp(await cpuEngine());
    const H = await denseParamHessian(model, x, objective);
    const ev = jacobiEigenvalues(H),
      P = ev.length,
      scale = Math.max(...ev.map(Math.abs));
    expect(P).toBe(53);
    // k = P: the Krylov space of one start vector holds one copy of each distinct eigenvalue; the recurrence
    // goes on past exhaustion (rounding directions, or a restart on exact breakdown) and recovers the rest.
    const all = await hessianEigen(model, x, objective, { space: 'parameter', k: P, which: 'largest', seed: 5 });
    expect(all.values.length).toBe(1);
    all.values[0].forEach((l, i) => expect(Math.abs(l - order(ev, 'largest')[i])).toBeLessThan(1e-5 * scale));
    const top = await hessianEigen(model, x, objective, { space: 'parameter', k: 3, seed: 6 });
    top.values[0].forEach((l, i) => expect(relErr(l, order(ev, 'magnitude')[i])).toBeLessThan(1e-5));
    const tr = await hessianTrace(model, x, objective, { space: 'parameter', method: 'exact', batchSize: 7 });
    expect(
      relErr(
        tr.values[0],
        H.reduce((a, r, i) => a + r[i], 0),
      ),
    ).toBeLessThan(1e-6);
  });

  it('exact trace and Hutch++ equal the dense trace (Hutch++ is exact when rank H ≤ samples/3)', async () => {
    const { model, x, objective } = await smallMlp(await cpuEngine());
    const dense = await denseInputHessians(model, x, objective);
    const traces = dense.map((H) => H.reduce((a, r, i) => a + r[i], 0));
    for (const batchSize of [1, 4, 6]) {
      const r = await hessianTrace(model, x, objective, { method: 'exact', batchSize });
      r.values.forEach((t, b) => expect(Math.abs(t - traces[b])).toBeLessThan(1e-9));
    }
    // rank ≤ 5 (5 hidden units): a sketch of 6 columns captures the whole range; the deflated rest is 0.
    const pp = await hessianTrace(model, x, objective, { method: 'hutch++', samples: 18, seed: 9 });
    pp.values.forEach((t, b) => expect(Math.abs(t - traces[b])).toBeLessThan(1e-6 * Math.abs(traces[b])));
    // With a smaller budget it is unbiased: within 4 standard errors of its deflated Hutchinson part.
    const small = await hessianTrace(model, x, objective, { method: 'hutch++', samples: 9, seed: 9 });
    small.values.forEach((t, b) => expect(Math.abs(t - traces[b])).toBeLessThanOrEqual(4 * small.stderr![b] + 1e-9));
    expect(small.matvecs).toBeLessThanOrEqual(9);
  });

  it('Hutchinson over many probes matches the dense trace within 4 standard errors, and its stderr is the exact one', async () => {
    const { model, x, objective } = await smallMlp(await cpuEngine());
    const dense = await denseInputHessians(model, x, objective);
    const S = 400;
    const r = await hessianTrace(model, x, objective, { samples: S, seed: 12, batchSize: 50 });
    dense.forEach((H, b) => {
      const tr = H.reduce((a, row, i) => a + row[i], 0);
      // Var(zᵀHz) = 2 Σ_{i≠j} H_ij² for Rademacher z.
      let v = 0;
      H.forEach((row, i) =>
        row.forEach((h, j) => {
          if (i !== j) v += 2 * h * h;
        }),
      );
      const se = Math.sqrt(v / S);
      expect(4 * se, 'the window must exclude an estimator that returns 0').toBeLessThanOrEqual(Math.abs(tr) / 2);
      expect(Math.abs(r.values[b] - tr)).toBeLessThanOrEqual(4 * se);
      expect(r.stderr![b] / se).toBeGreaterThan(0.8);
      expect(r.stderr![b] / se).toBeLessThan(1.2);
    });
  });

  it('power iteration (PyHessian) agrees with Lanczos and with the dense eigenvalues', async () => {
    const { model, x, objective } = await smallMlp(await cpuEngine());
    const dense = (await denseInputHessians(model, x, objective)).map(jacobiEigenvalues);
    // PyHessian's defaults: a result within its own stopping rule (relative change < 1e-3, ≤ 100 steps per value).
    const def = await hessianEigen(model, x, objective, { method: 'power', seed: 13 });
    def.iterations.forEach((n) => expect(n).toBeLessThanOrEqual(100));
    // Tight tolerances, with deflation for k = 2, in every order. Some of these eigenvalues are ~0 (rank 5 in
    // 6 dimensions) and the shifted runs resolve λ to ~1e-6 of the shift |λ_dom|: compare on the scale of |H|.
    for (const which of ['magnitude', 'largest', 'smallest'] as const) {
      const p = await hessianEigen(model, x, objective, {
        method: 'power',
        which,
        k: 2,
        tol: 1e-8,
        iterations: 3000,
        seed: 13,
      });
      expect(p.converged.every(Boolean)).toBe(true);
      dense.forEach((ev, b) => {
        const scale = Math.max(...ev.map(Math.abs));
        p.values[b].forEach((l, i) => expect(Math.abs(l - order(ev, which)[i])).toBeLessThan(1e-5 * scale));
      });
    }
  });

  it('oracle mlp: power iteration and Lanczos agree on λ_max', async () => {
    const c = cases.find((k) => k.name === 'mlp')!;
    const model = await loadModel(await cpuEngine(), c.json.model, c.bytes, { prefix: 'param.' });
    const x = c.tensors.get('x')!;
    const p = await hessianEigen(model, x, ce(c), {
      method: 'power',
      which: 'largest',
      tol: 1e-9,
      iterations: 2000,
      seed: 14,
    });
    const l = await hessianEigen(model, x, ce(c), { method: 'lanczos', which: 'largest', seed: 14 });
    p.values.forEach((v, b) => expect(relErr(v[0], l.values[b][0])).toBeLessThan(1e-4));
    expect(p.converged.every(Boolean)).toBe(true);
    // Lanczos needs far fewer products than power iteration here.
    l.iterations.forEach((n, b) => expect(n).toBeLessThan(p.iterations[b]));
  });
});

// ───────────────────── operators, seeds ─────────────────────

describe('curvature operators and seeds (cpu)', () => {
  it('a block application equals separate applications; restrict picks examples; parameter vectors follow model.parameters', async () => {
    const { model, x, objective } = await smallMlp(await cpuEngine());
    const op = inputHessianOperator(model, x, objective);
    expect([op.batch, op.dim, op.space]).toEqual([3, 6, 'input']);
    const r = rng(21);
    const V = randomTensor([4, 3, 6], r).data;
    const block = await op.applyBlock(V, 4);
    for (let j = 0; j < 4; j++) {
      const one = await op.apply(V.slice(j * 18, (j + 1) * 18));
      expect(Array.from(block.subarray(j * 18, (j + 1) * 18))).toEqual(Array.from(one));
    }
    const sub = op.restrict([2, 0]);
    expect(sub.examples).toEqual([2, 0]);
    const w = await sub.apply(Float32Array.of(...V.subarray(12, 18), ...V.subarray(0, 6)));
    const all = await op.apply(V.slice(0, 18));
    expect(Array.from(w)).toEqual([...all.subarray(12, 18), ...all.subarray(0, 6)]);
    const pop = paramHessianOperator(model, x, objective);
    expect([pop.batch, pop.dim, pop.space]).toEqual([1, 53, 'parameter']);
    const flat = Float32Array.from({ length: 53 }, (_, i) => i);
    const rec = unflattenParams(model, flat);
    expect(Object.keys(rec)).toEqual(Object.keys(model.parameters));
    expect(rec['fc1.bias'].data[0]).toBe(30);
    expect(Array.from(flattenParams(model, rec))).toEqual(Array.from(flat));
  });

  it('the same seed gives the same result; an omitted seed is drawn and reported', async () => {
    const { model, x, objective } = await smallMlp(await cpuEngine());
    const a = await hessianTrace(model, x, objective, { samples: 10, seed: 77 });
    const b = await hessianTrace(model, x, objective, { samples: 10, seed: 77, batchSize: 3 });
    expect(b.values).toEqual(a.values);
    const c = await hessianTrace(model, x, objective, { samples: 10 });
    expect(Number.isSafeInteger(c.seed)).toBe(true);
    expect((await hessianTrace(model, x, objective, { samples: 10, seed: c.seed! })).values).toEqual(c.values);
    const e = await hessianEigen(model, x, objective, { k: 2, iterations: 3 });
    expect((await hessianEigen(model, x, objective, { k: 2, iterations: 3, seed: e.seed })).values).toEqual(e.values);
    const d1 = await hessianDensity(model, x, objective, { seed: 5, iterations: 4, probes: 2 });
    const d2 = await hessianDensity(model, x, objective, { seed: 5, iterations: 4, probes: 2 });
    expect(d2.values).toEqual(d1.values);
  });
});

// ───────────────────── SLQ plot ─────────────────────

describe('densityPlotPng', () => {
  it('draws the smoothed density as a PNG of the asked size with axes and a curve', () => {
    const png = densityPlotPng({ nodes: [-1, 0.5, 2], weights: [0.2, 0.5, 0.3] }, { width: 200, height: 100 });
    const img = decode(png);
    expect([img.width, img.height, img.channels]).toEqual([200, 100, 4]);
    const px = (x: number, y: number) => Array.from(img.data.subarray((y * 200 + x) * 4, (y * 200 + x) * 4 + 4));
    expect(px(0, 0)).toEqual([255, 255, 255, 255]);
    expect(px(100, 100 - 8 - 1)).toEqual([0, 0, 0, 255]); // x axis
    let blue = 0,
      topRow = 100;
    for (let y = 0; y < 100; y++)
      for (let x = 0; x < 200; x++) {
        if (px(x, y).join() === '31,119,180,255') {
          blue++;
          topRow = Math.min(topRow, y);
        }
      }
    expect(blue).toBeGreaterThan(200);
    expect(topRow).toBe(8); // the peak touches the top of the plot area
    expect(decode(densityPlotPng({ nodes: [0], weights: [1] }, { scale: 'log' })).width).toBe(640);
  });
});

// ───────────────────── ReLU, softplus surrogate, warnings ─────────────────────

describe('softplusSurrogate and warnIfZero', () => {
  afterEach(() => vi.restoreAllMocks());
  const reluModel = async () => {
    const r = rng(31);
    const spec = {
      input: [6],
      layers: [{ type: 'dense', name: 'fc1', out: 8 }, { type: 'relu' }, { type: 'dense', name: 'fc2', out: 3 }],
    };
    const w = {
      'fc1.weight': randomTensor([8, 6], r),
      'fc1.bias': randomTensor([8], r),
      'fc2.weight': randomTensor([3, 8], r),
      'fc2.bias': randomTensor([3], r),
    };
    return { model: await loadModel(await cpuEngine(), spec, encodeSafetensors(w)), x: randomTensor([2, 6], r), w };
  };
  const logit: Objective = { kind: 'logit', target: [0, 2] };

  it("a ReLU model's input Hessian (of a logit) is zero and says so once per call; the surrogate's is not", async () => {
    const { model, x } = await reluModel();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const e = await hessianEigen(model, x, logit, { k: 2, seed: 1 });
    expect(e.values).toEqual([
      [0, 0],
      [0, 0],
    ]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toMatch(/identically zero.*no curvature.*ReLU.*softplusSurrogate/);
    const t = await hessianTrace(model, x, logit, { method: 'exact' });
    expect(t.values).toEqual([0, 0]);
    expect(warn).toHaveBeenCalledTimes(2);
    const p = await hessianEigen(model, x, logit, { method: 'power', seed: 1 });
    expect(p.values).toEqual([[0], [0]]);
    expect(warn).toHaveBeenCalledTimes(3);

    warn.mockClear();
    const smooth = softplusSurrogate(model, 5);
    expect(smooth.graph.ops.map((o) => o.type)).toEqual(['dense', 'softplus', 'dense']);
    expect(model.graph.ops.map((o) => o.type)).toEqual(['dense', 'relu', 'dense']);
    const s = await hessianEigen(smooth, x, logit, { k: 2, seed: 1 });
    s.values.forEach((v) => expect(Math.abs(v[0])).toBeGreaterThan(1e-3));
    const st = await hessianTrace(smooth, x, logit, { method: 'exact' });
    st.values.forEach((v) => expect(v).not.toBe(0));
    expect(warn).not.toHaveBeenCalled();
  });

  it('warnIfZero names the examples that are zero', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(
      warnIfZero(
        [
          [1, 0],
          [0, 0],
        ],
        'eigenvalues',
      ),
    ).toEqual([1]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toMatch(/identically zero \(the Hessian eigenvalues\) for example 1:/);
    expect(warnIfZero([0.5, -1], 'trace')).toEqual([]);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('the surrogate keeps the weights and its forward approaches the ReLU model as β grows (|Δ| ≤ Σ|W2|·log 2/β)', async () => {
    const { model, x, w } = await reluModel();
    const want = (await model.forward(x)).data;
    const bound = Math.max(
      ...[0, 1, 2].map((k) => w['fc2.weight'].data.subarray(k * 8, (k + 1) * 8).reduce((a, v) => a + Math.abs(v), 0)),
    );
    let prev = Infinity;
    for (const beta of [1, 10, 100, 1000]) {
      const s = softplusSurrogate(model, beta);
      expect(s.getWeights()).toEqual(model.getWeights());
      expect(s.engine).toBe(model.engine);
      const got = (await s.forward(x)).data;
      const err = Math.max(...Array.from(got, (g, i) => Math.abs(g - want[i])));
      expect(err).toBeLessThanOrEqual((bound * Math.LN2) / beta + 1e-6);
      expect(err).toBeLessThan(prev);
      prev = err;
    }
    expect(prev).toBeLessThan(1e-2);
  });
});

// ───────────────────── validation ─────────────────────

describe('curvature validation', () => {
  it('rejects bad k, which, method, samples and other options with a message', async () => {
    const { model, x, objective } = await smallMlp(await cpuEngine());
    await rejects(
      () => hessianEigen(model, x, objective, { k: 0 }),
      /hessianEigen: k must be an integer in \[1, 6\], got 0/,
    );
    await rejects(() => hessianEigen(model, x, objective, { k: 7 }), /k must be an integer in \[1, 6\], got 7/);
    await rejects(() => hessianEigen(model, x, objective, { k: 1.5 }), /k must be an integer/);
    await rejects(
      () => hessianEigen(model, x, objective, { which: 'biggest' as never }),
      /which must be 'magnitude' or 'largest' or 'smallest', got "biggest"/,
    );
    await rejects(
      () => hessianEigen(model, x, objective, { method: 'arnoldi' as never }),
      /method must be 'lanczos' or 'power', got "arnoldi"/,
    );
    await rejects(
      () => hessianEigen(model, x, objective, { k: 3, iterations: 2 }),
      /iterations must be an integer >= 3/,
    );
    await rejects(() => hessianEigen(model, x, objective, { tol: -1 }), /tol must be a finite number > 0/);
    await rejects(() => hessianEigen(model, x, objective, { seed: -1 }), /seed must be an integer in \[0, 2\^53\)/);
    await rejects(
      () => hessianEigen(model, x, objective, { space: 'weights' as never }),
      /space must be 'input' or 'parameter'/,
    );
    await rejects(() => hessianEigen(model, x, objective, { kk: 1 } as never), /unknown option 'kk'/);
    await rejects(
      () => hessianEigen(model, x, { kind: 'logit', target: [0, 1, 2] }, { gaussNewton: true }),
      /gaussNewton: true needs the objective \{ kind: 'crossEntropy'/,
    );
    await rejects(
      () => hessianEigen(model, x, objective, { gaussNewton: true, space: 'parameter' }),
      /gaussNewton is available in the input space only/,
    );
    await rejects(
      () => hessianEigen(model, x, { kind: 'crossEntropy', labels: [0, 1] }),
      /objective.labels must be an array of 3 class indices/,
    );
    await rejects(
      () => hessianEigen(model, { shape: [3, 5], data: new Float32Array(15) }, objective),
      /x has shape \[3, 5\], expected \[B, 6\]/,
    );
    await rejects(
      () => hessianTrace(model, x, objective, { samples: 1 }),
      /hessianTrace: samples must be an integer >= 2/,
    );
    await rejects(
      () => hessianTrace(model, x, objective, { method: 'hutch++', samples: 2 }),
      /samples must be an integer >= 3/,
    );
    await rejects(() => hessianTrace(model, x, objective, { samples: 'many' as never }), /samples must be an integer/);
    await rejects(
      () => hessianTrace(model, x, objective, { method: 'girard' as never }),
      /method must be 'hutchinson' or 'hutch\+\+' or 'exact'/,
    );
    await rejects(() => hessianTrace(model, x, objective, { batchSize: 0 }), /batchSize must be an integer >= 1/);
    await rejects(() => hessianDensity(model, x, objective, { probes: 0 }), /probes must be an integer >= 1/);
    await rejects(() => hessianDensity(model, x, objective, { iterations: 0 }), /iterations must be an integer >= 1/);
    await rejects(() => softplusSurrogate(model, 0), /beta must be a finite number > 0, got 0/);
    expect(() => densityPlotPng({ nodes: [1], weights: [] })).toThrow(
      /nodes: number\[\], weights: number\[\] \} of equal, non-zero length/,
    );
    expect(() => densityPlotPng({ nodes: [1], weights: [1] }, { sigma: 0 })).toThrow(
      /sigma must be a finite number > 0/,
    );
    const op = inputHessianOperator(model, x, objective);
    await rejects(
      () => op.applyBlock(new Float32Array(10), 1),
      /operator input must be a Float32Array of 1 × 3 × 6 = 18 values, got 10/,
    );
  });
});
