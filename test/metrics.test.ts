import { describe, expect, it } from 'vitest';
import { SmoothgeoError } from '../src/errors.js';
import {
  averageSensitivity,
  centerOfMass,
  centerOfMassDislocation,
  cosineDistance,
  kendallTau,
  localLipschitzEstimate,
  sensitivityMax,
  spearman,
  topKIntersection,
  type ExplainFn,
} from '../src/index.js';
import { normalFromUniform, philox4x32, seedKey, uniform01 } from '../src/noise/philox.js';
import type { Tensor } from '../src/tensor.js';

const T = (values: ArrayLike<number>, shape: number[]): Tensor => ({ shape, data: Float32Array.from(values) });

/** Small deterministic PRNG for test data (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** B×n values drawn from `levels` distinct values (ties) or continuous when levels = 0. */
function randomMaps(r: () => number, B: number, n: number, levels: number): Tensor {
  const data = new Float32Array(B * n);
  for (let i = 0; i < data.length; i++) data[i] = levels > 0 ? Math.floor(r() * levels) - 1 : r() * 2 - 1;
  return { shape: [B, n], data };
}

const rowOf = (t: Tensor, b: number) => {
  const n = t.data.length / t.shape[0];
  return Array.from(t.data.subarray(b * n, (b + 1) * n));
};

// ---------- O(n²) references ----------

function tauBRef(x: number[], y: number[]): number {
  const n = x.length;
  let nc = 0,
    nd = 0,
    tx = 0,
    ty = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const s = Math.sign(x[i] - x[j]) * Math.sign(y[i] - y[j]);
      if (s > 0) nc++;
      else if (s < 0) nd++;
      if (x[i] === x[j]) tx++;
      if (y[i] === y[j]) ty++;
    }
  }
  const n0 = (n * (n - 1)) / 2;
  return (nc - nd) / Math.sqrt((n0 - tx) * (n0 - ty));
}

function avgRankRef(v: number[]): number[] {
  return v.map((vi) => {
    let less = 0,
      equal = 0;
    for (const vj of v) {
      if (vj < vi) less++;
      else if (vj === vi) equal++;
    }
    return less + (equal + 1) / 2;
  });
}

function spearmanRef(x: number[], y: number[]): number {
  const rx = avgRankRef(x),
    ry = avgRankRef(y),
    n = x.length;
  const mx = rx.reduce((s, v) => s + v, 0) / n,
    my = ry.reduce((s, v) => s + v, 0) / n;
  let sxy = 0,
    sxx = 0,
    syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) ** 2;
    syy += (ry[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/** Top-k set by (value desc, index asc), by counting each position's predecessors. */
function topKRef(v: number[], k: number): Set<number> {
  const s = new Set<number>();
  v.forEach((vi, i) => {
    let before = 0;
    v.forEach((vj, j) => {
      if (vj > vi || (vj === vi && j < i)) before++;
    });
    if (before < k) s.add(i);
  });
  return s;
}

function topKIntersectionRef(a: number[], b: number[], k: number): number {
  const A = topKRef(a, k),
    Bs = topKRef(b, k);
  let c = 0;
  for (const i of A) if (Bs.has(i)) c++;
  return c / k;
}

function expectInvalid(f: () => unknown, pattern: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SmoothgeoError);
  expect((err as SmoothgeoError).code).toBe('INVALID_ARGUMENT');
  expect((err as SmoothgeoError).message).toMatch(pattern);
}

async function expectInvalidAsync(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SmoothgeoError);
  expect((err as SmoothgeoError).code).toBe('INVALID_ARGUMENT');
  expect((err as SmoothgeoError).message).toMatch(pattern);
}

// ---------- rank statistics ----------

const sizes = [2, 3, 5, 8, 33, 200];
const levelSets = [2, 3, 5, 0];

describe('kendallTau (τ-b, Knight O(n log n))', () => {
  it('matches the O(n²) reference on random data with ties, several sizes and tie densities', () => {
    const r = rng(1);
    for (const n of sizes) {
      for (const levels of levelSets) {
        const a = randomMaps(r, 3, n, levels),
          b = randomMaps(r, 3, n, levels);
        const got = kendallTau(a, b);
        for (let e = 0; e < 3; e++) {
          const want = tauBRef(rowOf(a, e), rowOf(b, e));
          if (Number.isNaN(want)) expect(got[e]).toBeNaN();
          else expect(got[e]).toBeCloseTo(want, 12);
        }
      }
    }
  });

  it('hand-computed cases', () => {
    // [1,2,3] vs [1,3,2]: 2 concordant, 1 discordant, no ties → 1/3.
    expect(kendallTau(T([1, 2, 3], [1, 3]), T([1, 3, 2], [1, 3]))[0]).toBeCloseTo(1 / 3, 15);
    // scipy.stats.kendalltau docs: x = [12, 2, 1, 12, 2], y = [1, 4, 7, 1, 0] → τ-b = −0.47140452079103173
    // (n0 = 10, ties in x: 2, ties in y: 1, joint: 1; n_c − n_d = −4; −4/√(8·9) = −√2/3).
    const t = kendallTau(T([12, 2, 1, 12, 2], [1, 5]), T([1, 4, 7, 1, 0], [1, 5]))[0];
    expect(t).toBeCloseTo(-0.47140452079103173, 14);
    expect(t).toBeCloseTo(-Math.SQRT2 / 3, 14);
    // Identity and reversal.
    expect(kendallTau(T([3, 1, 2, 5], [1, 4]), T([3, 1, 2, 5], [1, 4]))[0]).toBe(1);
    expect(kendallTau(T([1, 2, 3, 4], [1, 4]), T([4, 3, 2, 1], [1, 4]))[0]).toBe(-1);
  });

  it('is NaN where a map is constant (τ-b is 0/0 there), per example', () => {
    const a = T([1, 1, 1, 1, 2, 3], [2, 3]),
      b = T([1, 2, 3, 3, 2, 1], [2, 3]);
    const t = kendallTau(a, b);
    expect(t[0]).toBeNaN();
    expect(t[1]).toBe(-1);
    expect(kendallTau(b, a)[0]).toBeNaN();
    expect(kendallTau(T([5], [1, 1]), T([2], [1, 1]))[0]).toBeNaN();
  });

  it('works on maps of any trailing shape ([B, C, H, W] flattened per example)', () => {
    const r = rng(7);
    const a = randomMaps(r, 2, 2 * 3 * 4, 4),
      b = randomMaps(r, 2, 24, 4);
    const a4 = { shape: [2, 2, 3, 4], data: a.data },
      b4 = { shape: [2, 2, 3, 4], data: b.data };
    expect(kendallTau(a4, b4)).toEqual(kendallTau(a, b));
  });

  it('runs in O(n log n): n = 100000 with heavy ties finishes quickly', () => {
    const r = rng(3),
      n = 100_000;
    const a = randomMaps(r, 1, n, 50),
      b = randomMaps(r, 1, n, 0);
    for (let i = 0; i < n; i++) b.data[i] = a.data[i] + 0.5 * b.data[i]; // correlated with a
    const t0 = performance.now();
    const t = kendallTau(a, b)[0];
    const ms = performance.now() - t0;
    expect(t).toBeGreaterThan(0.3);
    expect(t).toBeLessThan(1);
    expect(kendallTau(a, a)[0]).toBe(1);
    // An O(n²) pair loop would be 5·10⁹ pairs; a generous bound that only the O(n log n) algorithm meets.
    expect(ms).toBeLessThan(10_000);
    const s0 = performance.now();
    spearman(a, b);
    expect(performance.now() - s0).toBeLessThan(10_000);
  });
});

describe('spearman (average ranks)', () => {
  it('matches the O(n²) reference on random data with ties, several sizes', () => {
    const r = rng(2);
    for (const n of sizes) {
      for (const levels of levelSets) {
        const a = randomMaps(r, 3, n, levels),
          b = randomMaps(r, 3, n, levels);
        const got = spearman(a, b);
        for (let e = 0; e < 3; e++) {
          const want = spearmanRef(rowOf(a, e), rowOf(b, e));
          if (Number.isNaN(want)) expect(got[e]).toBeNaN();
          else expect(got[e]).toBeCloseTo(want, 12);
        }
      }
    }
  });

  it('hand-computed cases', () => {
    expect(spearman(T([1, 2, 3, 4, 5], [1, 5]), T([5, 4, 3, 2, 1], [1, 5]))[0]).toBeCloseTo(-1, 15);
    expect(spearman(T([1, 2, 3, 4, 5], [1, 5]), T([10, 20, 30, 40, 50], [1, 5]))[0]).toBeCloseTo(1, 15);
    // scipy.stats.spearmanr docs: [1,2,3,4,5] vs [5,6,7,8,7] → 0.8207826816681233 (ranks of y: 1,2,3.5,5,3.5).
    expect(spearman(T([1, 2, 3, 4, 5], [1, 5]), T([5, 6, 7, 8, 7], [1, 5]))[0]).toBeCloseTo(0.8207826816681233, 14);
    expect(spearman(T([1, 1, 1], [1, 3]), T([1, 2, 3], [1, 3]))[0]).toBeNaN();
  });
});

describe('topKIntersection', () => {
  it('hand example', () => {
    const a = T([5, 1, 4, 3, 2, /**/ 1, 1, 1, 0, 0], [2, 5]);
    const b = T([1, 5, 4, 3, 2, /**/ 0, 1, 1, 1, 0], [2, 5]);
    // Example 0: top-2 of a = {0, 2}, of b = {1, 2} → 1/2. Top-3: {0,2,3} vs {1,2,3} → 2/3.
    // Example 1, ties at the k-th value broken by lower index: top-2 of a = {0, 1}, of b = {1, 2} → 1/2.
    expect(topKIntersection(a, b, 2)).toEqual([0.5, 0.5]);
    expect(topKIntersection(a, b, 3)[0]).toBeCloseTo(2 / 3, 15);
    expect(topKIntersection(a, b, 5)).toEqual([1, 1]);
    expect(topKIntersection(a, a, 1)).toEqual([1, 1]);
  });

  it('matches the O(n²) reference (ties broken by lower index) on random data with ties', () => {
    const r = rng(4);
    for (const n of sizes) {
      for (const levels of levelSets) {
        const a = randomMaps(r, 3, n, levels),
          b = randomMaps(r, 3, n, levels);
        for (const k of new Set([1, Math.max(1, n >> 1), n])) {
          const got = topKIntersection(a, b, k);
          for (let e = 0; e < 3; e++) expect(got[e]).toBeCloseTo(topKIntersectionRef(rowOf(a, e), rowOf(b, e), k), 15);
        }
      }
    }
  });
});

// ---------- geometric ----------

describe('centerOfMass and its dislocation', () => {
  it('a single bright pixel is its own centre; a symmetric map is centred', () => {
    const H = 5,
      W = 6;
    const data = new Float32Array(2 * H * W);
    data[2 * W + 3] = 7; // example 0: pixel (2, 3)
    for (let i = 0; i < H * W; i++) data[H * W + i] = 1; // example 1: uniform → ((H−1)/2, (W−1)/2)
    const c = centerOfMass({ shape: [2, H, W], data });
    expect(c[0]).toEqual([2, 3]);
    expect(c[1][0]).toBeCloseTo(2, 14);
    expect(c[1][1]).toBeCloseTo(2.5, 14);
    // [B, 1, H, W] is the same; the sign does not matter (|map|).
    const neg = Float32Array.from(data, (v) => -v);
    expect(centerOfMass({ shape: [2, 1, H, W], data: neg })).toEqual(c);
  });

  it('a symmetric two-blob map with negative weights and an all-zero map', () => {
    const m = T(
      [0, 0, 0, 0, /**/ -2, 0, 0, 2, /**/ 0, 0, 0, 0, /* example 2 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [2, 3, 4],
    );
    const c = centerOfMass(m);
    expect(c[0]).toEqual([1, 1.5]);
    expect(c[1][0]).toBeNaN();
    expect(c[1][1]).toBeNaN();
  });

  it('dislocation is the distance between centres in pixels', () => {
    const a = new Float32Array(2 * 4 * 5),
      b = new Float32Array(2 * 4 * 5);
    a[0] = 1;
    b[3 * 5 + 4] = 1; // (0, 0) vs (3, 4) → 5
    a[20 + 7] = 3;
    b[20 + 7] = 0.5; // same pixel → 0
    expect(centerOfMassDislocation({ shape: [2, 4, 5], data: a }, { shape: [2, 4, 5], data: b })).toEqual([5, 0]);
    const z = centerOfMassDislocation({ shape: [1, 2, 2], data: new Float32Array(4) }, T([1, 0, 0, 0], [1, 2, 2]));
    expect(z[0]).toBeNaN();
  });
});

describe('cosineDistance', () => {
  it('parallel 0, orthogonal 1, opposite 2, zero NaN', () => {
    const a = T([1, 2, 3, 1, 0, 0, 1, 2, 3, 0, 0, 0], [4, 3]);
    const b = T([2, 4, 6, 0, 1, 0, -1, -2, -3, 1, 1, 1], [4, 3]);
    const d = cosineDistance(a, b);
    expect(d[0]).toBeCloseTo(0, 14);
    expect(d[1]).toBe(1);
    expect(d[2]).toBeCloseTo(2, 14);
    expect(d[3]).toBeNaN();
  });
});

// ---------- perturbation metrics ----------

/** x + δ for sample s of example b as the metrics draw it (documented counter layout, stream 2). */
function perturbedRef(
  x: Tensor,
  b: number,
  s: number,
  seed: number,
  kind: 'uniform' | 'gaussian',
  scale: number,
): Float32Array {
  const d = x.data.length / x.shape[0],
    key = seedKey(seed),
    out = new Float32Array(d);
  for (let i = 0; i < d; i++) {
    const u = uniform01(philox4x32(Math.floor(i / 4), s, b, 2, key[0], key[1])[i % 4]);
    const delta = kind === 'uniform' ? scale * (2 * u - 1) : scale * normalFromUniform(u);
    out[i] = Math.fround(x.data[b * d + i] + delta);
  }
  return out;
}

const norm2 = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, a) => s + a * a, 0));
const dist2 = (u: ArrayLike<number>, v: ArrayLike<number>) => norm2(Array.from(u, (a, i) => a - v[i]));

const identity: ExplainFn = async (x) => ({ shape: [...x.shape], data: x.data.slice() });
const double: ExplainFn = async (x) => ({ shape: [...x.shape], data: x.data.map((v) => 2 * v) });
const square: ExplainFn = async (x) => ({
  shape: [x.shape[0], x.data.length / x.shape[0]],
  data: x.data.map((v) => v * v + Math.sin(3 * v)),
});
const constant: ExplainFn = async (x) => ({ shape: [x.shape[0], 3], data: new Float32Array(x.shape[0] * 3).fill(0.5) });

function counting(f: ExplainFn): { f: ExplainFn; rows: number[]; inputs: Tensor[] } {
  const rows: number[] = [],
    inputs: Tensor[] = [];
  return {
    rows,
    inputs,
    f: async (x) => {
      rows.push(x.shape[0]);
      inputs.push({ shape: [...x.shape], data: x.data.slice() });
      return f(x);
    },
  };
}

describe('perturbation metrics', () => {
  const r = rng(11);
  const x = randomMaps(r, 3, 2 * 3 * 3, 0);
  x.shape = [3, 2, 3, 3];

  it('localLipschitzEstimate of e(x) = 2x is exactly 2', async () => {
    const { values, seed } = await localLipschitzEstimate(double, x, { seed: 5, samples: 7 });
    expect(seed).toBe(5);
    expect(values).toEqual([2, 2, 2]);
  });

  it('localLipschitzEstimate matches the value computed from the same Philox draws', async () => {
    const seed = 99,
      S = 6,
      sigma = 0.3;
    const { values } = await localLipschitzEstimate(square, x, { seed, samples: S, sigma });
    const ex = (await square(x)).data;
    for (let b = 0; b < 3; b++) {
      let want = -Infinity;
      for (let s = 0; s < S; s++) {
        const xp = perturbedRef(x, b, s, seed, 'gaussian', sigma);
        const ep = (await square({ shape: [1, 2, 3, 3], data: xp })).data;
        want = Math.max(
          want,
          dist2(ex.subarray(b * 18, (b + 1) * 18), ep) / dist2(x.data.subarray(b * 18, (b + 1) * 18), xp),
        );
      }
      expect(values[b]).toBeCloseTo(want, 10);
    }
  });

  it('sensitivityMax / averageSensitivity of e(x) = x are max / mean of ‖δ‖/‖x‖ over the same Philox draws', async () => {
    const seed = 1234,
      S = 8,
      radius = 0.05;
    const mx = await sensitivityMax(identity, x, { seed, samples: S, radius });
    const av = await averageSensitivity(identity, x, { seed, samples: S, radius });
    for (let b = 0; b < 3; b++) {
      const xb = x.data.subarray(b * 18, (b + 1) * 18);
      const ratios = Array.from(
        { length: S },
        (_, s) => dist2(perturbedRef(x, b, s, seed, 'uniform', radius), xb) / norm2(xb),
      );
      expect(mx.values[b]).toBeCloseTo(Math.max(...ratios), 12);
      expect(av.values[b]).toBeCloseTo(ratios.reduce((p, q) => p + q, 0) / S, 12);
      expect(mx.values[b]).toBeGreaterThan(av.values[b]);
    }
  });

  it('perturbations are uniform in the L∞ ball of the given radius', async () => {
    const c = counting(identity);
    const radius = 0.02;
    await sensitivityMax(c.f, x, { seed: 3, samples: 50 });
    const all = c.inputs[0];
    let maxDev = 0,
      sum = 0,
      count = 0;
    for (let row = 3; row < all.shape[0]; row++) {
      const b = Math.floor((row - 3) / 50);
      for (let i = 0; i < 18; i++) {
        const dlt = all.data[row * 18 + i] - x.data[b * 18 + i];
        maxDev = Math.max(maxDev, Math.abs(dlt));
        sum += dlt;
        count++;
      }
    }
    expect(maxDev).toBeLessThanOrEqual(radius * (1 + 1e-5));
    expect(maxDev).toBeGreaterThan(radius * 0.95);
    expect(Math.abs(sum / count)).toBeLessThan(radius * 0.05);
  });

  it('sensitivityMax norms: 1 and inf use the same norm in numerator and denominator; ‖e(x)‖ = 0 divides by 1 (Captum)', async () => {
    const seed = 8,
      S = 4,
      radius = 0.1;
    for (const norm of [1, 'inf'] as const) {
      const { values } = await sensitivityMax(identity, x, { seed, samples: S, radius, norm });
      const p = (v: number[]) => (norm === 1 ? v.reduce((s, a) => s + Math.abs(a), 0) : Math.max(...v.map(Math.abs)));
      for (let b = 0; b < 3; b++) {
        const xb = Array.from(x.data.subarray(b * 18, (b + 1) * 18));
        const want = Math.max(
          ...Array.from(
            { length: S },
            (_, s) => p(Array.from(perturbedRef(x, b, s, seed, 'uniform', radius), (v, i) => v - xb[i])) / p(xb),
          ),
        );
        expect(values[b]).toBeCloseTo(want, 12);
      }
    }
    const zero = T(new Float32Array(4), [1, 4]);
    const { values } = await sensitivityMax(identity, zero, { seed, samples: S, radius });
    const want = Math.max(
      ...Array.from({ length: S }, (_, s) => norm2(perturbedRef(zero, 0, s, seed, 'uniform', radius))),
    );
    expect(values[0]).toBeCloseTo(want, 12);
  });

  it('a constant explanation scores 0 on all three', async () => {
    expect((await sensitivityMax(constant, x, { seed: 1 })).values).toEqual([0, 0, 0]);
    expect((await averageSensitivity(constant, x, { seed: 1 })).values).toEqual([0, 0, 0]);
    expect((await localLipschitzEstimate(constant, x, { seed: 1 })).values).toEqual([0, 0, 0]);
  });

  it('one explain call of B·(samples + 1) rows by default; batchSize chunks without changing the result', async () => {
    const c = counting(square);
    const ref = await sensitivityMax(c.f, x, { seed: 17, samples: 5 });
    expect(c.rows).toEqual([18]);
    expect(c.inputs[0].shape).toEqual([18, 2, 3, 3]);
    for (const batchSize of [1, 2, 4, 7, 18, 100]) {
      const cb = counting(square);
      const got = await sensitivityMax(cb.f, x, { seed: 17, samples: 5, batchSize });
      expect(got.values).toEqual(ref.values);
      expect(cb.rows.reduce((s, v) => s + v, 0)).toBe(18);
      expect(Math.max(...cb.rows)).toBeLessThanOrEqual(batchSize);
    }
    // With e(x) given, only the B·samples perturbed rows are explained.
    const cg = counting(square);
    const given = await square(x);
    const got = await sensitivityMax(cg.f, x, { seed: 17, samples: 5, explanation: given });
    expect(cg.rows).toEqual([15]);
    expect(got.values).toEqual(ref.values);
    const lip = counting(square);
    await localLipschitzEstimate(lip.f, x, { seed: 17, samples: 5, batchSize: 4 });
    expect(lip.rows).toEqual([4, 4, 4, 4, 2]);
  });

  it('is reproducible from the seed; a missing seed is drawn and returned', async () => {
    for (const metric of [sensitivityMax, averageSensitivity, localLipschitzEstimate]) {
      const a = await metric(square, x, { seed: 2 ** 40 + 3 });
      const b = await metric(square, x, { seed: 2 ** 40 + 3 });
      const c = await metric(square, x, { seed: 4 });
      expect(a.values).toEqual(b.values);
      expect(a.seed).toBe(2 ** 40 + 3);
      expect(c.values).not.toEqual(a.values);
      const drawn = await metric(square, x);
      expect(Number.isSafeInteger(drawn.seed)).toBe(true);
      expect(drawn.seed).toBeGreaterThanOrEqual(0);
      expect((await metric(square, x, { seed: drawn.seed })).values).toEqual(drawn.values);
    }
  });

  it('examples are independent of the batch they are in', async () => {
    const one = { shape: [1, 2, 3, 3], data: x.data.slice(18, 36) };
    // Example ids enter the counter, so example 1 of the batch equals example 1 only when it stays example 1;
    // but an example's score must not depend on the others' values.
    const other = { shape: [3, 2, 3, 3], data: x.data.slice() };
    other.data.fill(0.25, 0, 18);
    other.data.fill(-0.5, 36, 54);
    const a = await sensitivityMax(square, x, { seed: 6 });
    const b = await sensitivityMax(square, other, { seed: 6 });
    expect(b.values[1]).toBe(a.values[1]);
    expect((await sensitivityMax(square, one, { seed: 6 })).values[0]).toBeGreaterThan(0);
  });
});

// ---------- validation ----------

describe('validation', () => {
  const a = T([1, 2, 3, 4, 5, 6], [2, 3]);
  it('rank and map metrics name the argument and what was expected', () => {
    expectInvalid(() => kendallTau(a, T([1, 2, 3, 4, 5, 6], [3, 2])), /b has shape \[3, 2\], expected \[2, 3\]/);
    expectInvalid(() => spearman(a, T([1, 2, 3], [1, 3])), /b has shape \[1, 3\], expected \[2, 3\]/);
    expectInvalid(
      () => cosineDistance(T([1, 2, 3], [3]), T([1, 2, 3], [3])),
      /a has shape \[3\], expected a batch \[B, \.\.\.\]/,
    );
    expectInvalid(
      () =>
        topKIntersection({ shape: [0, 3], data: new Float32Array(0) }, { shape: [0, 3], data: new Float32Array(0) }, 1),
      /a has shape \[0, 3\]/,
    );
    expectInvalid(() => kendallTau(a, T([1, 2, NaN, 4, 5, 6], [2, 3])), /b has a non-finite value \(NaN\) at \[0, 2\]/);
    expectInvalid(() => spearman(T([1, Infinity, 3, 4, 5, 6], [2, 3]), a), /a has a non-finite value/);
    expectInvalid(() => kendallTau(a, null as unknown as Tensor), /b must be a tensor/);
    expectInvalid(
      () => kendallTau({ shape: [2, 3], data: [1, 2, 3, 4, 5, 6] } as unknown as Tensor, a),
      /a\.data must be a Float32Array/,
    );
    expectInvalid(() => topKIntersection(a, a, 0), /k must be an integer in \[1, 3\]/);
    expectInvalid(() => topKIntersection(a, a, 4), /k must be an integer in \[1, 3\].*got 4/);
    expectInvalid(() => topKIntersection(a, a, 1.5), /k must be an integer/);
    expectInvalid(
      () => centerOfMass(T(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4])),
      /map has shape \[2, 3, 4, 4\], expected \[B, H, W\] or \[B, 1, H, W\]/,
    );
    expectInvalid(
      () => centerOfMassDislocation(T([1, 2, 3, 4], [1, 2, 2]), T([1, 2, 3, 4, 5, 6], [1, 2, 3])),
      /b has shape \[1, 2, 3\], expected \[1, 2, 2\]/,
    );
  });

  it('perturbation metrics validate their options and the explain result', async () => {
    const x = T([0.1, 0.2, 0.3, 0.4], [2, 2]);
    await expectInvalidAsync(sensitivityMax(identity, x, { radius: 0 }), /radius must be a finite number > 0, got 0/);
    await expectInvalidAsync(averageSensitivity(identity, x, { radius: -1 }), /radius must be a finite number > 0/);
    await expectInvalidAsync(sensitivityMax(identity, x, { radius: NaN }), /radius must be a finite number > 0/);
    await expectInvalidAsync(localLipschitzEstimate(identity, x, { sigma: 0 }), /sigma must be a finite number > 0/);
    await expectInvalidAsync(
      localLipschitzEstimate(identity, x, { samples: 0 }),
      /samples must be an integer >= 1, got 0/,
    );
    await expectInvalidAsync(sensitivityMax(identity, x, { samples: 2.5 }), /samples must be an integer >= 1/);
    await expectInvalidAsync(sensitivityMax(identity, x, { seed: -1 }), /seed must be an integer in \[0, 2\^53\)/);
    await expectInvalidAsync(sensitivityMax(identity, x, { batchSize: 0 }), /batchSize must be an integer >= 1/);
    await expectInvalidAsync(
      sensitivityMax(identity, x, { norm: 3 as unknown as 'fro' }),
      /norm must be 'fro' or 1 or 2 or 'inf', got 3/,
    );
    await expectInvalidAsync(sensitivityMax(identity, T([0.1, NaN], [1, 2])), /x has a non-finite value/);
    await expectInvalidAsync(sensitivityMax(identity, T([0.1, 0.2], [2])), /x has shape \[2\], expected a batch/);
    await expectInvalidAsync(sensitivityMax(null as unknown as ExplainFn, x), /explain must be a function/);
    await expectInvalidAsync(
      sensitivityMax(async (t) => ({ shape: [1, 2], data: t.data.slice(0, 2) }), x),
      /explain returned shape \[1, 2\].*expected \[\d+, \.\.\.\]/,
    );
    await expectInvalidAsync(
      sensitivityMax(async () => null as unknown as Tensor, x),
      /explain must resolve to a tensor/,
    );
    await expectInvalidAsync(
      sensitivityMax(async (t) => ({ shape: [...t.shape], data: t.data.map(() => NaN) }), x),
      /explain result has a non-finite value/,
    );
    await expectInvalidAsync(
      sensitivityMax(identity, x, { explanation: T([1, 2, 3], [1, 3]) }),
      /options\.explanation has 1 rows.*expected 2/,
    );
    await expectInvalidAsync(
      sensitivityMax(identity, x, { explanation: T([1, 2, 3, 4, 5, 6], [2, 3]), samples: 1 }),
      /explain returned 2 values per row.*expected 3/,
    );
    let chunk = 0;
    const inconsistent: ExplainFn = async (t) => {
      chunk++;
      const m = chunk === 1 ? 2 : 3;
      return { shape: [t.shape[0], m], data: new Float32Array(t.shape[0] * m) };
    };
    await expectInvalidAsync(
      sensitivityMax(inconsistent, x, { batchSize: 2 }),
      /explain returned 3 values per row.*expected 2/,
    );
  });
});
