// float32 SIMD128 exp, log1p and tanh for the pointwise kernels (4 lanes at a time). Range reduction plus
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
  // exp(r) by a degree-5 minimax polynomial on |r| ≤ ln2/2 (XNNPACK's rr2-p5 coefficients; relative error
  // 9.2e-8, checked in float64), one Horner chain of 5 multiply-adds instead of a degree-7 Taylor's 7.
  let p = f32x4.splat(8.28929059e-3);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.18978222e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.66676521e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.99991506e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(9.99999702e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1));
  // 2^n through the exponent bits: n ≥ −126 here except at the clamp, whose lanes are set to 0 below.
  const ni = i32x4.trunc_sat_f32x4_s(n);
  const scaled = i32x4.add(p, i32x4.shl(ni, 23));
  return v128.andnot(scaled, under);
}

/**
 * tanh(a) for a ≥ 0 given e = exp(−2a): (1 − e)/(1 + e) where that has no cancellation (a ≥ 0.3, e ≤ 0.55:
 * 1 − e is exact by Sterbenz and the quotient's condition number 2e/(1 − e²) ≤ 1.6), else the odd Taylor
 * series to a¹¹ (the next term, 21844/6081075·a¹³, is ≤ 1.9e-9 of a at a = 0.3: below float32 rounding).
 */
@inline export function tanhFromE(a: v128, e: v128): v128 {
  const big = f32x4.div(f32x4.sub(f32x4.splat(1), e), f32x4.add(f32x4.splat(1), e));
  const a2 = f32x4.mul(a, a);
  let p = f32x4.splat(-0.00886323552); // −1382/155925
  p = f32x4.add(f32x4.mul(p, a2), f32x4.splat(0.0218694885)); // 62/2835
  p = f32x4.add(f32x4.mul(p, a2), f32x4.splat(-0.0539682540)); // −17/315
  p = f32x4.add(f32x4.mul(p, a2), f32x4.splat(0.133333333)); // 2/15
  p = f32x4.add(f32x4.mul(p, a2), f32x4.splat(-0.333333333)); // −1/3
  const small = f32x4.add(a, f32x4.mul(f32x4.mul(a, a2), p));
  return v128.bitselect(small, big, f32x4.lt(a, f32x4.splat(0.3)));
}

/** tanh(z), 4 lanes: tanhFromE on |z| with its sign put back (exp(−2|z|) underflows to 0 past |z| = 43.6: tanh = ±1). */
@inline export function tanhSimd(z: v128): v128 {
  const a = f32x4.abs(z);
  const t = tanhFromE(a, expNeg(f32x4.mul(a, f32x4.splat(-2))));
  return v128.or(t, v128.and(z, i32x4.splat(0x80000000)));
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

/**
 * log1p(e) for e in [0, 1] as 2·atanh(s), s = e/(2 + e) in [0, 1/3]: one division and an odd series to s¹³
 * (truncation 1.4e-8 relative at s = 1/3); s ≈ e/2 for tiny e, so no digits are lost there.
 */
@inline export function log1pUnit(e: v128): v128 {
  const s = f32x4.div(e, f32x4.add(e, f32x4.splat(2)));
  const s2 = f32x4.mul(s, s);
  let p = f32x4.splat(0.0769230769);
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(0.0909090909));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(0.111111111));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(0.142857143));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(0.2));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(0.333333333));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(1));
  return f32x4.mul(f32x4.add(s, s), p);
}

/** log(v) for positive normal float32 v: v = 2^e·m, m in [1, 2), log v = e·ln2 + log m. */
@inline export function logPos(v: v128): v128 {
  const e = i32x4.sub(i32x4.shr_u(v, 23), i32x4.splat(127));
  const m = v128.or(v128.and(v, i32x4.splat(0x7fffff)), i32x4.splat(0x3f800000));
  return f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(e), f32x4.splat(0.693147181)), log1to2(m));
}

/**
 * The standard normal quantile of u in (0, 1) by Giles' single-precision erfinv, the float32 SIMD twin of
 * normalFromUniform in src/noise/philox.ts (which evaluates the same polynomials in float64): both branches
 * are evaluated and the one for w = −log(4u(1 − u)) < 5 or ≥ 5 is selected per lane.
 */
@inline export function normalQuantile(u: v128): v128 {
  const x = f32x4.sub(f32x4.add(u, u), f32x4.splat(1));
  const w = f32x4.neg(logPos(f32x4.mul(f32x4.mul(f32x4.splat(4), u), f32x4.sub(f32x4.splat(1), u))));
  const a = f32x4.sub(w, f32x4.splat(2.5));
  let p = f32x4.splat(2.81022636e-8);
  p = f32x4.add(f32x4.mul(p, a), f32x4.splat(3.43273939e-7));
  p = f32x4.add(f32x4.mul(p, a), f32x4.splat(-3.5233877e-6));
  p = f32x4.add(f32x4.mul(p, a), f32x4.splat(-4.39150654e-6));
  p = f32x4.add(f32x4.mul(p, a), f32x4.splat(0.00021858087));
  p = f32x4.add(f32x4.mul(p, a), f32x4.splat(-0.00125372503));
  p = f32x4.add(f32x4.mul(p, a), f32x4.splat(-0.00417768164));
  p = f32x4.add(f32x4.mul(p, a), f32x4.splat(0.246640727));
  p = f32x4.add(f32x4.mul(p, a), f32x4.splat(1.50140941));
  const b = f32x4.sub(f32x4.sqrt(w), f32x4.splat(3));
  let t = f32x4.splat(-0.000200214257);
  t = f32x4.add(f32x4.mul(t, b), f32x4.splat(0.000100950558));
  t = f32x4.add(f32x4.mul(t, b), f32x4.splat(0.00134934322));
  t = f32x4.add(f32x4.mul(t, b), f32x4.splat(-0.00367342844));
  t = f32x4.add(f32x4.mul(t, b), f32x4.splat(0.00573950773));
  t = f32x4.add(f32x4.mul(t, b), f32x4.splat(-0.0076224613));
  t = f32x4.add(f32x4.mul(t, b), f32x4.splat(0.00943887047));
  t = f32x4.add(f32x4.mul(t, b), f32x4.splat(1.00167406));
  t = f32x4.add(f32x4.mul(t, b), f32x4.splat(2.83297682));
  const q = v128.bitselect(p, t, f32x4.lt(w, f32x4.splat(5)));
  return f32x4.mul(f32x4.mul(q, f32x4.splat(1.41421356)), x);
}

/**
 * a·b + c: f32x4.relaxed_madd in the relaxed-SIMD build (one fused multiply-add where the CPU has FMA; each
 * lane's result is then one rounding, and fixed per machine, so threads still agree bitwise), else mul then add.
 */
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}
