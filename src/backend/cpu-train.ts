import type { AdamHyper, BTensor, GradTerm, SgdHyper, TrainPrimitives } from './backend.js';

/**
 * The float64 twin of shaders/train.wgsl: optimiser steps, SSR seeds, row normalisation, PGD steps and
 * training metrics, written for clarity. Tensors are the cpu backend's (their `data` is a Float64Array,
 * index tensors an Int32Array); `make` allocates one.
 */
type Data = { data: Float64Array | Int32Array; dtype: string; label: string };
function f64(t: BTensor): Float64Array {
  const d = t as unknown as Data;
  if (d.dtype !== 'f32' || !(d.data instanceof Float64Array))
    throw new Error(`${t.label}: expected a float tensor of the cpu backend`);
  return d.data;
}
function i32(t: BTensor): Int32Array {
  const d = t as unknown as Data;
  if (d.dtype !== 'i32' || !(d.data instanceof Int32Array))
    throw new Error(`${t.label}: expected an index tensor of the cpu backend`);
  return d.data;
}

/** Σ scale·grad at element i. */
function gradAt(terms: readonly { g: Float64Array; scale: number }[], i: number): number {
  let s = 0;
  for (const t of terms) s += t.scale * t.g[i];
  return s;
}

function checkTerms(param: BTensor, grads: readonly GradTerm[]): { g: Float64Array; scale: number }[] {
  if (grads.length < 1 || grads.length > 2)
    throw new Error(`optimiser step on ${param.label}: 1 or 2 gradient terms, got ${grads.length}`);
  for (const t of grads)
    if (t.grad.size !== param.size)
      throw new Error(
        `optimiser step on ${param.label}: gradient ${t.grad.label} has ${t.grad.size} values, expected ${param.size}`,
      );
  return grads.map((t) => ({ g: f64(t.grad), scale: t.scale }));
}

export function cpuTrainPrimitives(make: (shape: readonly number[], label: string) => BTensor): TrainPrimitives {
  return {
    sgd(param: BTensor, velocity: BTensor, grads: readonly GradTerm[], h: SgdHyper): void {
      const terms = checkTerms(param, grads);
      const p = f64(param),
        v = f64(velocity);
      for (let i = 0; i < p.length; i++) {
        const g = gradAt(terms, i) + h.weightDecay * p[i];
        v[i] = h.momentum * v[i] + g;
        p[i] -= h.lr * (h.nesterov ? g + h.momentum * v[i] : v[i]);
      }
    },

    adam(param: BTensor, m: BTensor, v: BTensor, grads: readonly GradTerm[], h: AdamHyper): void {
      const terms = checkTerms(param, grads);
      const p = f64(param),
        M = f64(m),
        V = f64(v);
      const bc1 = 1 - h.beta1 ** h.step,
        bc2 = 1 - h.beta2 ** h.step;
      for (let i = 0; i < p.length; i++) {
        const g = gradAt(terms, i) + h.weightDecay * p[i];
        M[i] = h.beta1 * M[i] + (1 - h.beta1) * g;
        V[i] = h.beta2 * V[i] + (1 - h.beta2) * g * g;
        p[i] -= (h.lr * (M[i] / bc1)) / (Math.sqrt(V[i] / bc2) + h.eps);
      }
    },

    ssrSeeds(z: BTensor, zdot: BTensor, scale: number, ce?: { classes: BTensor; scale: number } | null) {
      const [B, K] = z.shape;
      const Z = f64(z),
        Zd = f64(zdot),
        C = ce ? i32(ce.classes) : null;
      const g = make([B, K], 'ssr seed'),
        gdot = make([B, K], 'ssr seed tangent'),
        lambda = make([B], 'ssr lambda');
      const G = f64(g),
        Gd = f64(gdot),
        L = f64(lambda);
      for (let b = 0; b < B; b++) {
        const row = b * K;
        let mx = -Infinity;
        for (let k = 0; k < K; k++) mx = Math.max(mx, Z[row + k]);
        let sum = 0;
        for (let k = 0; k < K; k++) sum += Math.exp(Z[row + k] - mx);
        const p = (k: number) => Math.exp(Z[row + k] - mx) / sum;
        let m = 0;
        for (let k = 0; k < K; k++) m += p(k) * Zd[row + k];
        let lam = 0;
        for (let k = 0; k < K; k++) lam += p(k) * (Zd[row + k] - m) ** 2;
        L[b] = lam;
        for (let k = 0; k < K; k++) {
          const e = Zd[row + k] - m;
          G[row + k] = 2 * scale * p(k) * e;
          Gd[row + k] = scale * p(k) * (e * e - lam) + (C ? ce!.scale * (p(k) - (k === C[b] ? 1 : 0)) : 0);
        }
      }
      return { g, gdot, lambda };
    },

    gatherRows(store: BTensor, index: BTensor, d: number): BTensor {
      const S = f64(store),
        I = i32(index);
      const out = make([I.length, d], 'gathered rows'),
        O = f64(out);
      for (let b = 0; b < I.length; b++) for (let i = 0; i < d; i++) O[b * d + i] = S[I[b] * d + i];
      return out;
    },

    scatterRows(store: BTensor, index: BTensor, rows: BTensor, d: number): void {
      const S = f64(store),
        I = i32(index),
        R = f64(rows);
      for (let b = 0; b < I.length; b++) for (let i = 0; i < d; i++) S[I[b] * d + i] = R[b * d + i];
    },

    normalizeRows(v: BTensor, rows: number): BTensor {
      const V = f64(v),
        d = v.size / rows;
      const out = make(v.shape, 'normalized rows'),
        O = f64(out);
      for (let r = 0; r < rows; r++) {
        let ss = 0;
        for (let i = 0; i < d; i++) ss += V[r * d + i] ** 2;
        const s = ss > 0 ? 1 / Math.sqrt(ss) : 0;
        for (let i = 0; i < d; i++) O[r * d + i] = V[r * d + i] * s;
      }
      return out;
    },

    pgdStep(xadv: BTensor, x: BTensor, grad: BTensor, epsilon: number, step: number, lo: number, hi: number): BTensor {
      const A = f64(xadv),
        X = f64(x),
        G = f64(grad);
      const out = make(x.shape, 'pgd iterate'),
        O = f64(out);
      for (let i = 0; i < O.length; i++) {
        const t = A[i] + step * Math.sign(G[i]);
        O[i] = Math.min(hi, Math.max(lo, Math.min(X[i] + epsilon, Math.max(X[i] - epsilon, t))));
      }
      return out;
    },

    accumulateMetrics(z: BTensor, classes: BTensor, lambda: BTensor | null, stats: BTensor): void {
      const [B, K] = z.shape;
      const Z = f64(z),
        C = i32(classes),
        S = f64(stats),
        L = lambda ? f64(lambda) : null;
      for (let b = 0; b < B; b++) {
        const row = b * K;
        let mx = Z[row],
          arg = 0;
        for (let k = 1; k < K; k++)
          if (Z[row + k] > mx) {
            mx = Z[row + k];
            arg = k;
          }
        let sum = 0;
        for (let k = 0; k < K; k++) sum += Math.exp(Z[row + k] - mx);
        S[0] += mx + Math.log(sum) - Z[row + C[b]];
        S[1] += arg === C[b] ? 1 : 0;
        S[2] += 1;
        S[3] += L ? L[b] : 0;
      }
    },
  };
}
