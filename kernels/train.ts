// Training primitives of the wasm backend (Backend.train): the float32 twins of src/backend/cpu-train.ts.
// Optimiser steps and the PGD step run 4 lanes at a time in float32 (as shaders/train.wgsl); per-row
// reductions over logits (softmax, SSR seeds, metrics, norms) run in float64.

/** Σ scale·grad over the one or two terms (g1 0 = none) at byte offset o, 4 lanes. */
@inline function grad4(g0: usize, s0: v128, g1: usize, s1: v128, o: usize): v128 {
  const g = f32x4.mul(v128.load(g0 + o), s0);
  return g1 ? f32x4.add(g, f32x4.mul(v128.load(g1 + o), s1)) : g;
}
@inline function grad1(g0: usize, s0: f32, g1: usize, s1: f32, o: usize): f32 {
  const g = load<f32>(g0 + o) * s0;
  return g1 ? g + load<f32>(g1 + o) * s1 : g;
}

/** PyTorch SGD: g = Σ terms + wd·θ; v ← μ·v + g; θ ← θ − lr·(nesterov ? g + μ·v : v). */
export function sgd(p: usize, vel: usize, g0: usize, s0: f32, g1: usize, s1: f32, count: i32, lr: f32, mu: f32, wd: f32, nesterov: i32): void {
  const n = count & ~3;
  const S0 = f32x4.splat(s0), S1 = f32x4.splat(s1), LR = f32x4.splat(lr), MU = f32x4.splat(mu), WD = f32x4.splat(wd);
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const th = v128.load(p + o);
    const g = f32x4.add(grad4(g0, S0, g1, S1, o), f32x4.mul(WD, th));
    const v = f32x4.add(f32x4.mul(MU, v128.load(vel + o)), g);
    v128.store(vel + o, v);
    const step = nesterov ? f32x4.add(g, f32x4.mul(MU, v)) : v;
    v128.store(p + o, f32x4.sub(th, f32x4.mul(LR, step)));
  }
  for (let i = n; i < count; i++) {
    const o = <usize>i << 2;
    const th = load<f32>(p + o);
    const g = grad1(g0, s0, g1, s1, o) + wd * th;
    const v = mu * load<f32>(vel + o) + g;
    store<f32>(vel + o, v);
    store<f32>(p + o, th - lr * (nesterov ? g + mu * v : v));
  }
}

/**
 * PyTorch Adam (L2 weight decay); c1 = 1 − β₁, c2 = 1 − β₂, bc1 = 1 − β₁ᵗ, bc2 = 1 − β₂ᵗ from the caller in
 * float64 (1 − β₂ formed in float32 from β₂ = 0.999 would be off by 1.3e-5 relative).
 */
export function adam(p: usize, m: usize, v: usize, g0: usize, s0: f32, g1: usize, s1: f32, count: i32, lr: f32, b1: f32, b2: f32, c1: f32, c2: f32, eps: f32, wd: f32, bc1: f32, bc2: f32): void {
  const n = count & ~3;
  const S0 = f32x4.splat(s0), S1 = f32x4.splat(s1), WD = f32x4.splat(wd);
  const B1 = f32x4.splat(b1), B2 = f32x4.splat(b2), C1 = f32x4.splat(c1), C2 = f32x4.splat(c2);
  const LR = f32x4.splat(lr), EPS = f32x4.splat(eps), BC1 = f32x4.splat(bc1), BC2 = f32x4.splat(bc2);
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const th = v128.load(p + o);
    const g = f32x4.add(grad4(g0, S0, g1, S1, o), f32x4.mul(WD, th));
    const mm = f32x4.add(f32x4.mul(B1, v128.load(m + o)), f32x4.mul(C1, g));
    const vv = f32x4.add(f32x4.mul(B2, v128.load(v + o)), f32x4.mul(C2, f32x4.mul(g, g)));
    v128.store(m + o, mm);
    v128.store(v + o, vv);
    const den = f32x4.add(f32x4.sqrt(f32x4.div(vv, BC2)), EPS);
    v128.store(p + o, f32x4.sub(th, f32x4.div(f32x4.mul(LR, f32x4.div(mm, BC1)), den)));
  }
  for (let i = n; i < count; i++) {
    const o = <usize>i << 2;
    const th = load<f32>(p + o);
    const g = grad1(g0, s0, g1, s1, o) + wd * th;
    const mm = b1 * load<f32>(m + o) + c1 * g;
    const vv = b2 * load<f32>(v + o) + c2 * g * g;
    store<f32>(m + o, mm);
    store<f32>(v + o, vv);
    store<f32>(p + o, th - (lr * (mm / bc1)) / (Mathf.sqrt(vv / bc2) + eps));
  }
}

/** Softmax of row z[0..K) into ws as K float64s. */
function softmaxRow(z: usize, K: i32, ws: usize): void {
  let mx = -Infinity;
  for (let k = 0; k < K; k++) mx = Math.max(mx, <f64>load<f32>(z + (<usize>k << 2)));
  let sum: f64 = 0;
  for (let k = 0; k < K; k++) {
    const e = Math.exp(<f64>load<f32>(z + (<usize>k << 2)) - mx);
    store<f64>(ws + (<usize>k << 3), e);
    sum += e;
  }
  for (let k = 0; k < K; k++) store<f64>(ws + (<usize>k << 3), load<f64>(ws + (<usize>k << 3)) / sum);
}

/**
 * SSR seeds per row b: λ = Σ p_k(ż_k − pᵀż)², g = 2·scale·p ⊙ (ż − pᵀż), gdot = scale·p ⊙ ((ż − pᵀż)² − λ)
 * (+ ceScale·(p − e_label) when classes ≠ 0). ws: K float64s.
 */
export function ssrSeeds(z: usize, zdot: usize, B: i32, K: i32, scale: f64, classes: usize, ceScale: f64, g: usize, gdot: usize, lambda: usize, ws: usize): void {
  for (let b = 0; b < B; b++) {
    const row = <usize>(b * K) << 2;
    softmaxRow(z + row, K, ws);
    let m: f64 = 0;
    for (let k = 0; k < K; k++) m += load<f64>(ws + (<usize>k << 3)) * <f64>load<f32>(zdot + row + (<usize>k << 2));
    let lam: f64 = 0;
    for (let k = 0; k < K; k++) {
      const e = <f64>load<f32>(zdot + row + (<usize>k << 2)) - m;
      lam += load<f64>(ws + (<usize>k << 3)) * e * e;
    }
    store<f32>(lambda + (<usize>b << 2), <f32>lam);
    const label = classes ? load<i32>(classes + (<usize>b << 2)) : -1;
    for (let k = 0; k < K; k++) {
      const p = load<f64>(ws + (<usize>k << 3)), e = <f64>load<f32>(zdot + row + (<usize>k << 2)) - m;
      store<f32>(g + row + (<usize>k << 2), <f32>(2 * scale * p * e));
      const ce: f64 = classes ? ceScale * (p - (k == label ? 1 : 0)) : 0;
      store<f32>(gdot + row + (<usize>k << 2), <f32>(scale * p * (e * e - lam) + ce));
    }
  }
}

/** out[b, :] = store[index[b], :]. */
export function gatherRows(src: usize, index: usize, out: usize, B: i32, d: i32): void {
  for (let b = 0; b < B; b++) {
    const r = load<i32>(index + (<usize>b << 2));
    memory.copy(out + (<usize>(b * d) << 2), src + (<usize>(r * d) << 2), <usize>d << 2);
  }
}

/** store[index[b], :] = rows[b, :]. */
export function scatterRows(dst: usize, index: usize, rows: usize, B: i32, d: i32): void {
  for (let b = 0; b < B; b++) {
    const r = load<i32>(index + (<usize>b << 2));
    memory.copy(dst + (<usize>(r * d) << 2), rows + (<usize>(b * d) << 2), <usize>d << 2);
  }
}

/** out row r = v row r / ‖v row r‖₂ (a zero row stays zero); the norm in float64. */
export function normalizeRows(v: usize, out: usize, rows: i32, d: i32): void {
  for (let r = 0; r < rows; r++) {
    const base = <usize>(r * d) << 2;
    let ss: f64 = 0;
    for (let i = 0; i < d; i++) {
      const x = <f64>load<f32>(v + base + (<usize>i << 2));
      ss += x * x;
    }
    const s: f64 = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let i = 0; i < d; i++) {
      const o = base + (<usize>i << 2);
      store<f32>(out + o, <f32>(<f64>load<f32>(v + o) * s));
    }
  }
}

/** out = clip(clip(xadv + step·sign(grad), x − ε, x + ε), lo, hi); sign(0) = 0. */
export function pgdStep(xadv: usize, x: usize, grad: usize, out: usize, count: i32, eps: f32, step: f32, lo: f32, hi: f32): void {
  const n = count & ~3;
  const E = f32x4.splat(eps), ST = f32x4.splat(step), LO = f32x4.splat(lo), HI = f32x4.splat(hi);
  const zero = f32x4.splat(0), one = f32x4.splat(1), mone = f32x4.splat(-1);
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(grad + o), xv = v128.load(x + o);
    const sign = v128.or(v128.and(f32x4.gt(g, zero), one), v128.and(f32x4.lt(g, zero), mone));
    const t = f32x4.add(v128.load(xadv + o), f32x4.mul(ST, sign));
    const c = f32x4.min(f32x4.add(xv, E), f32x4.max(f32x4.sub(xv, E), t));
    v128.store(out + o, f32x4.min(HI, f32x4.max(LO, c)));
  }
  for (let i = n; i < count; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(grad + o), xv = load<f32>(x + o);
    const sign: f32 = g > 0 ? 1 : g < 0 ? -1 : 0;
    const t = load<f32>(xadv + o) + step * sign;
    store<f32>(out + o, Mathf.min(hi, Mathf.max(lo, Mathf.min(xv + eps, Mathf.max(xv - eps, t)))));
  }
}

/** stats [4] += [Σ cross-entropy, Σ correct (first maximum), B, Σ λ (lambda 0: adds 0)]; sums in float64. */
export function accumulateMetrics(z: usize, classes: usize, lambda: usize, B: i32, K: i32, stats: usize): void {
  let ce: f64 = 0, correct: f64 = 0, lam: f64 = 0;
  for (let b = 0; b < B; b++) {
    const row = z + (<usize>(b * K) << 2);
    let mx = <f64>load<f32>(row), arg = 0;
    for (let k = 1; k < K; k++) {
      const v = <f64>load<f32>(row + (<usize>k << 2));
      if (v > mx) { mx = v; arg = k; }
    }
    let sum: f64 = 0;
    for (let k = 0; k < K; k++) sum += Math.exp(<f64>load<f32>(row + (<usize>k << 2)) - mx);
    const c = load<i32>(classes + (<usize>b << 2));
    ce += mx + Math.log(sum) - <f64>load<f32>(row + (<usize>c << 2));
    if (arg == c) correct += 1;
    if (lambda) lam += <f64>load<f32>(lambda + (<usize>b << 2));
  }
  store<f32>(stats, <f32>(<f64>load<f32>(stats) + ce));
  store<f32>(stats + 4, <f32>(<f64>load<f32>(stats + 4) + correct));
  store<f32>(stats + 8, <f32>(<f64>load<f32>(stats + 8) + <f64>B));
  store<f32>(stats + 12, <f32>(<f64>load<f32>(stats + 12) + lam));
}
