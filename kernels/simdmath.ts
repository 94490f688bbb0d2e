// float32 SIMD128 exp and log1p for the pointwise kernels (4 lanes at a time). Range reduction plus
// polynomials, checked against float64 in test/wasm.test.ts (a few ulp over the ranges used).

/** exp(x) for x ≤ 0 (softplus and the sigmoid only need exp(−|βz|)); 0 below −87.3 (float32 underflow). */
@inline export function expNeg(x: v128): v128 {
  const lo = f32x4.splat(-87.3);
  const under = f32x4.lt(x, lo);
  x = f32x4.max(x, lo);
  // x = n·ln2 + r, |r| ≤ ln2/2; ln2 split in a high part exact in float32 and a low correction.
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504)));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693145752)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(1.42860677e-6)));
  // exp(r) by its Taylor polynomial to degree 7 (error < 1e-9 on |r| ≤ 0.347).
  let p = f32x4.splat(1.98412698e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.38888889e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.33333333e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.16666667e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.66666667e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(0.5));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1));
  // 2^n through the exponent bits: n ≥ −126 here except at the clamp, whose lanes are set to 0 below.
  const ni = i32x4.trunc_sat_f32x4_s(n);
  const scaled = i32x4.add(p, i32x4.shl(ni, 23));
  return v128.andnot(scaled, under);
}

/** log(u) for u in [1, 2]: u = 2^k·m with m in [1/√2·…, √2], log m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172. */
@inline function log1to2(u: v128): v128 {
  const big = f32x4.gt(u, f32x4.splat(1.41421356));
  const m = v128.bitselect(f32x4.mul(u, f32x4.splat(0.5)), u, big);
  const s = f32x4.div(f32x4.sub(m, f32x4.splat(1)), f32x4.add(m, f32x4.splat(1)));
  const s2 = f32x4.mul(s, s);
  let p = f32x4.splat(0.111111111);
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(0.142857143));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(0.2));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(0.333333333));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(1));
  const logm = f32x4.mul(f32x4.mul(s, p), f32x4.splat(2));
  return f32x4.add(logm, v128.and(big, f32x4.splat(0.693147181)));
}

/** log1p(e) for e in [0, 1], accurate for tiny e: log(u)·e/(u − 1) with u = 1 + e (u − 1 is exact). */
@inline export function log1pUnit(e: v128): v128 {
  const u = f32x4.add(e, f32x4.splat(1));
  const d = f32x4.sub(u, f32x4.splat(1));
  const same = f32x4.eq(d, f32x4.splat(0));
  const q = f32x4.div(f32x4.mul(log1to2(u), e), v128.bitselect(f32x4.splat(1), d, same));
  return v128.bitselect(e, q, same);
}
