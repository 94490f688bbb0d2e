import { describe, expect, it } from 'vitest';
import type { Backend, BTensor } from '../src/backend/backend.js';
import type { Engine } from '../src/engine.js';
import { cpuEngine, randomTensor, relL2, rng, wasmEngine, webgpuEngine } from './helpers.js';

// The training kernels (shaders/train.wgsl and its cpu twin) against float64 references written here from the
// formulas (PyTorch's SGD and Adam). Tolerances: float64 cpu to 1e-12; webgpu float32, a handful of
// roundings per element over a few steps, to 1e-5 relative L2; wasm likewise (float32 SIMD optimiser steps).
const backends: [string, () => Promise<Engine>, number][] = [
  ['cpu', cpuEngine, 1e-12],
  ['webgpu', webgpuEngine, 1e-5],
  ['wasm', wasmEngine, 1e-5],
];

async function withBackend<T>(engine: Engine, fn: (be: Backend) => Promise<T>): Promise<T> {
  return fn(await engine.backendForCall());
}

function sgdRef(
  p: number[],
  v: number[],
  g1: number[],
  g2: number[] | null,
  s1: number,
  s2: number,
  h: { lr: number; momentum: number; weightDecay: number; nesterov: boolean },
) {
  for (let i = 0; i < p.length; i++) {
    const g = s1 * g1[i] + (g2 ? s2 * g2[i] : 0) + h.weightDecay * p[i];
    v[i] = h.momentum * v[i] + g;
    p[i] -= h.lr * (h.nesterov ? g + h.momentum * v[i] : v[i]);
  }
}

function adamRef(
  p: number[],
  m: number[],
  v: number[],
  g1: number[],
  s1: number,
  t: number,
  h: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number },
) {
  for (let i = 0; i < p.length; i++) {
    const g = s1 * g1[i] + h.weightDecay * p[i];
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * g;
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g;
    const mh = m[i] / (1 - h.beta1 ** t),
      vh = v[i] / (1 - h.beta2 ** t);
    p[i] -= (h.lr * mh) / (Math.sqrt(vh) + h.eps);
  }
}

for (const [name, engine, tol] of backends) {
  describe(`training kernels on ${name}`, () => {
    const r = rng(42);
    const n = 1037; // not a multiple of the workgroup size
    const p0 = randomTensor([n], r),
      g1 = randomTensor([n], r),
      g2 = randomTensor([n], r);
    const up = (be: Backend, t: { data: Float32Array }, label: string): BTensor =>
      be.upload(t.data, [t.data.length], label);

    for (const nesterov of [false, true]) {
      it(`SGD with momentum, weight decay, two gradient terms${nesterov ? ', Nesterov' : ''}: three steps`, async () => {
        const h = { lr: 0.05, momentum: 0.9, weightDecay: 0.01, nesterov };
        const [p, v] = await withBackend(await engine(), async (be) => {
          const P = up(be, p0, 'p'),
            V = be.upload(new Float32Array(n), [n], 'v'),
            G1 = up(be, g1, 'g1'),
            G2 = up(be, g2, 'g2');
          for (let s = 0; s < 3; s++)
            be.train.sgd(
              P,
              V,
              [
                { grad: G1, scale: 0.7 },
                { grad: G2, scale: 0.3 },
              ],
              h,
            );
          const out = await be.read([P, V]);
          be.release(P, V, G1, G2);
          return out;
        });
        const P = Array.from(p0.data),
          V = new Array(n).fill(0);
        for (let s = 0; s < 3; s++) sgdRef(P, V, Array.from(g1.data), Array.from(g2.data), 0.7, 0.3, h);
        expect(relL2(p, P)).toBeLessThan(tol);
        expect(relL2(v, V)).toBeLessThan(tol);
      });
    }

    it('Adam with weight decay and bias correction: four steps', async () => {
      const h = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.001 };
      const [p, m, v] = await withBackend(await engine(), async (be) => {
        const P = up(be, p0, 'p'),
          M = be.upload(new Float32Array(n), [n], 'm'),
          V = be.upload(new Float32Array(n), [n], 'v'),
          G1 = up(be, g1, 'g1');
        for (let s = 1; s <= 4; s++) be.train.adam(P, M, V, [{ grad: G1, scale: 0.5 }], { ...h, step: s });
        const out = await be.read([P, M, V]);
        be.release(P, M, V, G1);
        return out;
      });
      const P = Array.from(p0.data),
        M = new Array(n).fill(0),
        V = new Array(n).fill(0);
      for (let s = 1; s <= 4; s++) adamRef(P, M, V, Array.from(g1.data), 0.5, s, h);
      expect(relL2(p, P)).toBeLessThan(tol);
      expect(relL2(m, M)).toBeLessThan(tol);
      expect(relL2(v, V)).toBeLessThan(tol);
    });

    it('SSR seeds: λ = żᵀ(diag p − ppᵀ)ż, 2·s·Aż and s·∂λ/∂z (checked by central differences of λ in z), + the CE seed', async () => {
      const B = 3,
        K = 10,
        scale = 0.25,
        ceScale = 0.6,
        labels = [2, 0, 9];
      const z = randomTensor([B, K], r, -3, 3),
        zd = randomTensor([B, K], r);
      const [g, gdot, lambda, gdotCe] = await withBackend(await engine(), async (be) => {
        const Z = be.upload(z.data, [B, K], 'z'),
          Zd = be.upload(zd.data, [B, K], 'zdot'),
          C = be.uploadIndices(labels, [B], 'labels');
        const s = be.train.ssrSeeds(Z, Zd, scale);
        const t = be.train.ssrSeeds(Z, Zd, scale, { classes: C, scale: ceScale });
        const out = await be.read([s.g, s.gdot, s.lambda, t.gdot]);
        be.release(Z, Zd, C, s.g, s.gdot, s.lambda, t.g, t.gdot, t.lambda);
        return out;
      });
      // With the CE seed: gdot + ceScale·(softmax(z) − e_label).
      for (let b = 0; b < B; b++) {
        const zz = Array.from(z.data.subarray(b * K, (b + 1) * K)),
          mx = Math.max(...zz),
          e = zz.map((q) => Math.exp(q - mx)),
          S = e.reduce((a, q) => a + q, 0);
        const want = e.map((q, k) => gdot[b * K + k] + ceScale * (q / S - (k === labels[b] ? 1 : 0)));
        expect(relL2(gdotCe.subarray(b * K, (b + 1) * K), want)).toBeLessThan(Math.max(tol, 1e-6));
      }
      const lam = (zz: number[], zdd: number[]) => {
        const mx = Math.max(...zz),
          e = zz.map((q) => Math.exp(q - mx)),
          S = e.reduce((a, q) => a + q, 0),
          p = e.map((q) => q / S);
        const pz = p.reduce((a, q, k) => a + q * zdd[k], 0);
        return p.reduce((a, q, k) => a + q * zdd[k] * zdd[k], 0) - pz * pz;
      };
      for (let b = 0; b < B; b++) {
        const zz = Array.from(z.data.subarray(b * K, (b + 1) * K)),
          zdd = Array.from(zd.data.subarray(b * K, (b + 1) * K));
        expect(Math.abs(lambda[b] - lam(zz, zdd)) / lam(zz, zdd)).toBeLessThan(Math.max(tol, 1e-6));
        const h = 1e-5;
        const fdZ = zz.map(
          (_, k) =>
            (lam(
              zz.map((q, j) => q + (j === k ? h : 0)),
              zdd,
            ) -
              lam(
                zz.map((q, j) => q - (j === k ? h : 0)),
                zdd,
              )) /
            (2 * h),
        );
        const fdZd = zdd.map(
          (_, k) =>
            (lam(
              zz,
              zdd.map((q, j) => q + (j === k ? h : 0)),
            ) -
              lam(
                zz,
                zdd.map((q, j) => q - (j === k ? h : 0)),
              )) /
            (2 * h),
        );
        expect(
          relL2(
            gdot.subarray(b * K, (b + 1) * K),
            fdZ.map((q) => scale * q),
          ),
        ).toBeLessThan(1e-5);
        expect(
          relL2(
            g.subarray(b * K, (b + 1) * K),
            fdZd.map((q) => scale * q),
          ),
        ).toBeLessThan(1e-5);
      }
    });

    it('gather and scatter of rows (the eigenvector store of SSR training)', async () => {
      const N = 5,
        d = 13;
      const store = randomTensor([N, d], r),
        rowsT = randomTensor([2, d], r);
      const [gathered, after] = await withBackend(await engine(), async (be) => {
        const S = be.upload(store.data, [N, d], 'store'),
          I = be.uploadIndices([3, 0], [2], 'index'),
          R = be.upload(rowsT.data, [2, d], 'rows');
        const G = be.train.gatherRows(S, I, d);
        be.train.scatterRows(S, I, R, d);
        const out = await be.read([G, S]);
        be.release(S, I, R, G);
        return out;
      });
      expect(Array.from(gathered)).toEqual(
        [...store.data.subarray(3 * d, 4 * d), ...store.data.subarray(0, d)].map((v) => Math.fround(v)),
      );
      const want = Float32Array.from(store.data);
      want.set(rowsT.data.subarray(0, d), 3 * d);
      want.set(rowsT.data.subarray(d, 2 * d), 0);
      expect(Array.from(after)).toEqual(Array.from(want));
    });

    it('row normalisation, the PGD step and the training metrics', async () => {
      const rows = 3,
        d = 301,
        B = 4,
        K = 10;
      const v = randomTensor([rows, d], r);
      v.data.fill(0, d, 2 * d); // a zero row stays zero
      const xa = randomTensor([B, 7], r, 0, 1),
        x = randomTensor([B, 7], r, 0, 1),
        gr = randomTensor([B, 7], r);
      gr.data[3] = 0; // sign(0) = 0: no move
      const z = randomTensor([B, K], r, -2, 2),
        labels = [1, 4, 4, 9],
        lambda = randomTensor([B], r, 0, 1);
      const [nv, pg, st] = await withBackend(await engine(), async (be) => {
        const V = be.upload(v.data, v.shape, 'v'),
          XA = be.upload(xa.data, xa.shape, 'xa'),
          X = be.upload(x.data, x.shape, 'x'),
          G = be.upload(gr.data, gr.shape, 'g');
        const Z = be.upload(z.data, z.shape, 'z'),
          C = be.uploadIndices(labels, [B], 'c'),
          L = be.upload(lambda.data, [B], 'l');
        const S = be.upload(new Float32Array([1, 2, 3, 4]), [4], 'stats');
        const N = be.train.normalizeRows(V, rows),
          P = be.train.pgdStep(XA, X, G, 0.1, 0.05, 0.2, 0.9);
        be.train.accumulateMetrics(Z, C, L, S);
        be.train.accumulateMetrics(Z, C, null, S);
        const out = await be.read([N, P, S]);
        be.release(V, XA, X, G, Z, C, L, S, N, P);
        return out;
      });
      const refN: number[] = [];
      for (let q = 0; q < rows; q++) {
        const row = Array.from(v.data.subarray(q * d, (q + 1) * d)),
          nr = Math.hypot(...row);
        refN.push(...row.map((e) => (nr > 0 ? e / nr : 0)));
      }
      expect(relL2(nv, refN)).toBeLessThan(Math.max(tol, 1e-6));
      expect(Array.from(nv.subarray(d, 2 * d)).every((e) => e === 0)).toBe(true);
      const refP = Array.from(xa.data, (a, i) =>
        Math.min(
          0.9,
          Math.max(0.2, Math.min(x.data[i] + 0.1, Math.max(x.data[i] - 0.1, a + 0.05 * Math.sign(gr.data[i])))),
        ),
      );
      expect(relL2(pg, refP)).toBeLessThan(Math.max(tol, 1e-6));
      let ce = 0,
        correct = 0;
      for (let b = 0; b < B; b++) {
        const row = Array.from(z.data.subarray(b * K, (b + 1) * K)),
          mx = Math.max(...row);
        ce += mx + Math.log(row.reduce((a, q) => a + Math.exp(q - mx), 0)) - row[labels[b]];
        if (row.indexOf(mx) === labels[b]) correct++;
      }
      const lsum = Array.from(lambda.data).reduce((a, q) => a + q, 0);
      expect(relL2(st, [1 + 2 * ce, 2 + 2 * correct, 3 + 2 * B, 4 + lsum])).toBeLessThan(Math.max(tol, 1e-6));
    });
  });
}
