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

// The standard normal quantile of u in (0, 1) for four vectors by Giles' single-precision erfinv, the float32
// SIMD twin of normalFromUniform in src/noise/philox.ts (which evaluates the same polynomials in float64):
// w = −log(4u(1 − u)) (v = 2^e·m, m in [1, 2) halved above √2, log m = 2·atanh(s) with s = (m − 1)/(m + 1),
// |s| ≤ 0.172, an odd series to s⁹), both branches evaluated and the one for w < 5 or ≥ 5
// selected per lane. The four vectors' steps are interleaved, four independent chains side by side, so the
// core overlaps their latencies (one vector after another left it waiting on each Horner chain: ~2/3 of
// sampleInputs' time, 11 → 7.5 ns per element); each vector's operations and their order are those of one
// vector alone. Results in Z0..Z3.
export let Z0: v128 = f32x4.splat(0), Z1: v128 = f32x4.splat(0), Z2: v128 = f32x4.splat(0), Z3: v128 = f32x4.splat(0);
@inline export function normalQuantile4(u0: v128, u1: v128, u2: v128, u3: v128): void {
  let x0 = f32x4.sub(f32x4.add(u0, u0), f32x4.splat(1)); let x1 = f32x4.sub(f32x4.add(u1, u1), f32x4.splat(1));
  let x2 = f32x4.sub(f32x4.add(u2, u2), f32x4.splat(1)); let x3 = f32x4.sub(f32x4.add(u3, u3), f32x4.splat(1));
  let v0 = f32x4.mul(f32x4.mul(f32x4.splat(4), u0), f32x4.sub(f32x4.splat(1), u0)); let v1 = f32x4.mul(f32x4.mul(f32x4.splat(4), u1), f32x4.sub(f32x4.splat(1), u1));
  let v2 = f32x4.mul(f32x4.mul(f32x4.splat(4), u2), f32x4.sub(f32x4.splat(1), u2)); let v3 = f32x4.mul(f32x4.mul(f32x4.splat(4), u3), f32x4.sub(f32x4.splat(1), u3));
  let e0 = i32x4.sub(i32x4.shr_u(v0, 23), i32x4.splat(127)); let e1 = i32x4.sub(i32x4.shr_u(v1, 23), i32x4.splat(127));
  let e2 = i32x4.sub(i32x4.shr_u(v2, 23), i32x4.splat(127)); let e3 = i32x4.sub(i32x4.shr_u(v3, 23), i32x4.splat(127));
  let mm0 = v128.or(v128.and(v0, i32x4.splat(0x7fffff)), i32x4.splat(0x3f800000)); let mm1 = v128.or(v128.and(v1, i32x4.splat(0x7fffff)), i32x4.splat(0x3f800000));
  let mm2 = v128.or(v128.and(v2, i32x4.splat(0x7fffff)), i32x4.splat(0x3f800000)); let mm3 = v128.or(v128.and(v3, i32x4.splat(0x7fffff)), i32x4.splat(0x3f800000));
  let big0 = f32x4.gt(mm0, f32x4.splat(1.41421356)); let big1 = f32x4.gt(mm1, f32x4.splat(1.41421356));
  let big2 = f32x4.gt(mm2, f32x4.splat(1.41421356)); let big3 = f32x4.gt(mm3, f32x4.splat(1.41421356));
  let m0 = v128.bitselect(f32x4.mul(mm0, f32x4.splat(0.5)), mm0, big0); let m1 = v128.bitselect(f32x4.mul(mm1, f32x4.splat(0.5)), mm1, big1);
  let m2 = v128.bitselect(f32x4.mul(mm2, f32x4.splat(0.5)), mm2, big2); let m3 = v128.bitselect(f32x4.mul(mm3, f32x4.splat(0.5)), mm3, big3);
  let s0 = f32x4.div(f32x4.sub(m0, f32x4.splat(1)), f32x4.add(m0, f32x4.splat(1))); let s1 = f32x4.div(f32x4.sub(m1, f32x4.splat(1)), f32x4.add(m1, f32x4.splat(1)));
  let s2 = f32x4.div(f32x4.sub(m2, f32x4.splat(1)), f32x4.add(m2, f32x4.splat(1))); let s3 = f32x4.div(f32x4.sub(m3, f32x4.splat(1)), f32x4.add(m3, f32x4.splat(1)));
  let s20 = f32x4.mul(s0, s0); let s21 = f32x4.mul(s1, s1);
  let s22 = f32x4.mul(s2, s2); let s23 = f32x4.mul(s3, s3);
  let l0 = f32x4.add(f32x4.mul(f32x4.splat(0.111111111), s20), f32x4.splat(0.142857143)); let l1 = f32x4.add(f32x4.mul(f32x4.splat(0.111111111), s21), f32x4.splat(0.142857143));
  let l2 = f32x4.add(f32x4.mul(f32x4.splat(0.111111111), s22), f32x4.splat(0.142857143)); let l3 = f32x4.add(f32x4.mul(f32x4.splat(0.111111111), s23), f32x4.splat(0.142857143));
  l0 = f32x4.add(f32x4.mul(l0, s20), f32x4.splat(0.2)); l1 = f32x4.add(f32x4.mul(l1, s21), f32x4.splat(0.2));
  l2 = f32x4.add(f32x4.mul(l2, s22), f32x4.splat(0.2)); l3 = f32x4.add(f32x4.mul(l3, s23), f32x4.splat(0.2));
  l0 = f32x4.add(f32x4.mul(l0, s20), f32x4.splat(0.333333333)); l1 = f32x4.add(f32x4.mul(l1, s21), f32x4.splat(0.333333333));
  l2 = f32x4.add(f32x4.mul(l2, s22), f32x4.splat(0.333333333)); l3 = f32x4.add(f32x4.mul(l3, s23), f32x4.splat(0.333333333));
  l0 = f32x4.add(f32x4.mul(l0, s20), f32x4.splat(1)); l1 = f32x4.add(f32x4.mul(l1, s21), f32x4.splat(1));
  l2 = f32x4.add(f32x4.mul(l2, s22), f32x4.splat(1)); l3 = f32x4.add(f32x4.mul(l3, s23), f32x4.splat(1));
  l0 = f32x4.add(f32x4.mul(f32x4.mul(s0, l0), f32x4.splat(2)), v128.and(big0, f32x4.splat(0.693147181))); l1 = f32x4.add(f32x4.mul(f32x4.mul(s1, l1), f32x4.splat(2)), v128.and(big1, f32x4.splat(0.693147181)));
  l2 = f32x4.add(f32x4.mul(f32x4.mul(s2, l2), f32x4.splat(2)), v128.and(big2, f32x4.splat(0.693147181))); l3 = f32x4.add(f32x4.mul(f32x4.mul(s3, l3), f32x4.splat(2)), v128.and(big3, f32x4.splat(0.693147181)));
  let w0 = f32x4.neg(f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(e0), f32x4.splat(0.693147181)), l0)); let w1 = f32x4.neg(f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(e1), f32x4.splat(0.693147181)), l1));
  let w2 = f32x4.neg(f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(e2), f32x4.splat(0.693147181)), l2)); let w3 = f32x4.neg(f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(e3), f32x4.splat(0.693147181)), l3));
  let a0 = f32x4.sub(w0, f32x4.splat(2.5)); let a1 = f32x4.sub(w1, f32x4.splat(2.5));
  let a2 = f32x4.sub(w2, f32x4.splat(2.5)); let a3 = f32x4.sub(w3, f32x4.splat(2.5));
  let b0 = f32x4.sub(f32x4.sqrt(w0), f32x4.splat(3)); let b1 = f32x4.sub(f32x4.sqrt(w1), f32x4.splat(3));
  let b2 = f32x4.sub(f32x4.sqrt(w2), f32x4.splat(3)); let b3 = f32x4.sub(f32x4.sqrt(w3), f32x4.splat(3));
  let p0 = f32x4.add(f32x4.mul(f32x4.splat(2.81022636e-8), a0), f32x4.splat(3.43273939e-7)); let p1 = f32x4.add(f32x4.mul(f32x4.splat(2.81022636e-8), a1), f32x4.splat(3.43273939e-7));
  let p2 = f32x4.add(f32x4.mul(f32x4.splat(2.81022636e-8), a2), f32x4.splat(3.43273939e-7)); let p3 = f32x4.add(f32x4.mul(f32x4.splat(2.81022636e-8), a3), f32x4.splat(3.43273939e-7));
  let t0 = f32x4.add(f32x4.mul(f32x4.splat(-0.000200214257), b0), f32x4.splat(0.000100950558)); let t1 = f32x4.add(f32x4.mul(f32x4.splat(-0.000200214257), b1), f32x4.splat(0.000100950558));
  let t2 = f32x4.add(f32x4.mul(f32x4.splat(-0.000200214257), b2), f32x4.splat(0.000100950558)); let t3 = f32x4.add(f32x4.mul(f32x4.splat(-0.000200214257), b3), f32x4.splat(0.000100950558));
  p0 = f32x4.add(f32x4.mul(p0, a0), f32x4.splat(-3.5233877e-6)); p1 = f32x4.add(f32x4.mul(p1, a1), f32x4.splat(-3.5233877e-6));
  p2 = f32x4.add(f32x4.mul(p2, a2), f32x4.splat(-3.5233877e-6)); p3 = f32x4.add(f32x4.mul(p3, a3), f32x4.splat(-3.5233877e-6));
  t0 = f32x4.add(f32x4.mul(t0, b0), f32x4.splat(0.00134934322)); t1 = f32x4.add(f32x4.mul(t1, b1), f32x4.splat(0.00134934322));
  t2 = f32x4.add(f32x4.mul(t2, b2), f32x4.splat(0.00134934322)); t3 = f32x4.add(f32x4.mul(t3, b3), f32x4.splat(0.00134934322));
  p0 = f32x4.add(f32x4.mul(p0, a0), f32x4.splat(-4.39150654e-6)); p1 = f32x4.add(f32x4.mul(p1, a1), f32x4.splat(-4.39150654e-6));
  p2 = f32x4.add(f32x4.mul(p2, a2), f32x4.splat(-4.39150654e-6)); p3 = f32x4.add(f32x4.mul(p3, a3), f32x4.splat(-4.39150654e-6));
  t0 = f32x4.add(f32x4.mul(t0, b0), f32x4.splat(-0.00367342844)); t1 = f32x4.add(f32x4.mul(t1, b1), f32x4.splat(-0.00367342844));
  t2 = f32x4.add(f32x4.mul(t2, b2), f32x4.splat(-0.00367342844)); t3 = f32x4.add(f32x4.mul(t3, b3), f32x4.splat(-0.00367342844));
  p0 = f32x4.add(f32x4.mul(p0, a0), f32x4.splat(0.00021858087)); p1 = f32x4.add(f32x4.mul(p1, a1), f32x4.splat(0.00021858087));
  p2 = f32x4.add(f32x4.mul(p2, a2), f32x4.splat(0.00021858087)); p3 = f32x4.add(f32x4.mul(p3, a3), f32x4.splat(0.00021858087));
  t0 = f32x4.add(f32x4.mul(t0, b0), f32x4.splat(0.00573950773)); t1 = f32x4.add(f32x4.mul(t1, b1), f32x4.splat(0.00573950773));
  t2 = f32x4.add(f32x4.mul(t2, b2), f32x4.splat(0.00573950773)); t3 = f32x4.add(f32x4.mul(t3, b3), f32x4.splat(0.00573950773));
  p0 = f32x4.add(f32x4.mul(p0, a0), f32x4.splat(-0.00125372503)); p1 = f32x4.add(f32x4.mul(p1, a1), f32x4.splat(-0.00125372503));
  p2 = f32x4.add(f32x4.mul(p2, a2), f32x4.splat(-0.00125372503)); p3 = f32x4.add(f32x4.mul(p3, a3), f32x4.splat(-0.00125372503));
  t0 = f32x4.add(f32x4.mul(t0, b0), f32x4.splat(-0.0076224613)); t1 = f32x4.add(f32x4.mul(t1, b1), f32x4.splat(-0.0076224613));
  t2 = f32x4.add(f32x4.mul(t2, b2), f32x4.splat(-0.0076224613)); t3 = f32x4.add(f32x4.mul(t3, b3), f32x4.splat(-0.0076224613));
  p0 = f32x4.add(f32x4.mul(p0, a0), f32x4.splat(-0.00417768164)); p1 = f32x4.add(f32x4.mul(p1, a1), f32x4.splat(-0.00417768164));
  p2 = f32x4.add(f32x4.mul(p2, a2), f32x4.splat(-0.00417768164)); p3 = f32x4.add(f32x4.mul(p3, a3), f32x4.splat(-0.00417768164));
  t0 = f32x4.add(f32x4.mul(t0, b0), f32x4.splat(0.00943887047)); t1 = f32x4.add(f32x4.mul(t1, b1), f32x4.splat(0.00943887047));
  t2 = f32x4.add(f32x4.mul(t2, b2), f32x4.splat(0.00943887047)); t3 = f32x4.add(f32x4.mul(t3, b3), f32x4.splat(0.00943887047));
  p0 = f32x4.add(f32x4.mul(p0, a0), f32x4.splat(0.246640727)); p1 = f32x4.add(f32x4.mul(p1, a1), f32x4.splat(0.246640727));
  p2 = f32x4.add(f32x4.mul(p2, a2), f32x4.splat(0.246640727)); p3 = f32x4.add(f32x4.mul(p3, a3), f32x4.splat(0.246640727));
  t0 = f32x4.add(f32x4.mul(t0, b0), f32x4.splat(1.00167406)); t1 = f32x4.add(f32x4.mul(t1, b1), f32x4.splat(1.00167406));
  t2 = f32x4.add(f32x4.mul(t2, b2), f32x4.splat(1.00167406)); t3 = f32x4.add(f32x4.mul(t3, b3), f32x4.splat(1.00167406));
  p0 = f32x4.add(f32x4.mul(p0, a0), f32x4.splat(1.50140941)); p1 = f32x4.add(f32x4.mul(p1, a1), f32x4.splat(1.50140941));
  p2 = f32x4.add(f32x4.mul(p2, a2), f32x4.splat(1.50140941)); p3 = f32x4.add(f32x4.mul(p3, a3), f32x4.splat(1.50140941));
  t0 = f32x4.add(f32x4.mul(t0, b0), f32x4.splat(2.83297682)); t1 = f32x4.add(f32x4.mul(t1, b1), f32x4.splat(2.83297682));
  t2 = f32x4.add(f32x4.mul(t2, b2), f32x4.splat(2.83297682)); t3 = f32x4.add(f32x4.mul(t3, b3), f32x4.splat(2.83297682));
  let q0 = v128.bitselect(p0, t0, f32x4.lt(w0, f32x4.splat(5))); let q1 = v128.bitselect(p1, t1, f32x4.lt(w1, f32x4.splat(5)));
  let q2 = v128.bitselect(p2, t2, f32x4.lt(w2, f32x4.splat(5))); let q3 = v128.bitselect(p3, t3, f32x4.lt(w3, f32x4.splat(5)));
  let z0 = f32x4.mul(f32x4.mul(q0, f32x4.splat(1.41421356)), x0); let z1 = f32x4.mul(f32x4.mul(q1, f32x4.splat(1.41421356)), x1);
  let z2 = f32x4.mul(f32x4.mul(q2, f32x4.splat(1.41421356)), x2); let z3 = f32x4.mul(f32x4.mul(q3, f32x4.splat(1.41421356)), x3);
  Z0 = z0; Z1 = z1; Z2 = z2; Z3 = z3;
}

/**
 * a·b + c: f32x4.relaxed_madd in the relaxed-SIMD build (one fused multiply-add where the CPU has FMA; each
 * lane's result is then one rounding, and fixed per machine, so threads still agree bitwise), else mul then add.
 */
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}
