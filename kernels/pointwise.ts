// Pointwise activations with value, tangent and second-order streams, all four kinds 4 lanes at a time in
// float32 SIMD (kernels/simdmath.ts), in the overflow-safe forms of src/backend/activation-math.ts.
// kind: 0 relu, 1 softplus, 2 tanh, 3 sigmoid. The last 1–3 elements of a range go through the same SIMD
// code on a partly filled vector, so every element's result is the same wherever a range starts or ends
// (thread splits and GEMM epilogue panels need not fall on multiples of 4 to agree bitwise).
import { expNeg, log1pUnit, tanhFromE, tanhSimd } from './simdmath';

// f(z), f′(z), f″(z) of the last evalVec call (v128 globals: AssemblyScript functions return one value).
let F: v128 = f32x4.splat(0), D1: v128 = f32x4.splat(0), D2: v128 = f32x4.splat(0);

/**
 * Sets F, D1 and (second ≠ 0) D2 for 4 lanes of z. Softplus at βz and the sigmoid use e = exp(−|·|):
 * σ = 1/(1 + e) or e/(1 + e) by sign, σ(1 − σ) = e/(1 + e)² with no cancellation in 1 − σ; the sigmoid's
 * 1 − 2σ = −tanh(z/2) (accurate near 0, where (1 − e)/(1 + e) would cancel); tanh′ = 4e/(1 + e)² with e = exp(−2|z|).
 */
@inline function evalVec(kind: i32, b: v128, invb: v128, z: v128, second: i32): void {
  const zero = f32x4.splat(0), one = f32x4.splat(1);
  if (kind == 0) {
    const pos = f32x4.gt(z, zero); // NaN → 0, as z > 0 ? z : 0
    F = v128.and(z, pos);
    D1 = v128.and(one, pos);
    D2 = zero;
  } else if (kind == 1) {
    const bz = f32x4.mul(b, z);
    const e = expNeg(f32x4.neg(f32x4.abs(bz)));
    const inv = f32x4.div(one, f32x4.add(one, e));
    F = f32x4.mul(f32x4.add(f32x4.max(bz, zero), log1pUnit(e)), invb);
    D1 = v128.bitselect(inv, f32x4.mul(e, inv), f32x4.ge(bz, zero));
    if (second) D2 = f32x4.mul(b, f32x4.mul(e, f32x4.mul(inv, inv)));
  } else if (kind == 2) {
    const a = f32x4.abs(z);
    const e = expNeg(f32x4.mul(a, f32x4.splat(-2)));
    const t = v128.or(tanhFromE(a, e), v128.and(z, i32x4.splat(0x80000000)));
    const inv = f32x4.div(one, f32x4.add(one, e));
    F = t;
    D1 = f32x4.mul(f32x4.mul(f32x4.splat(4), e), f32x4.mul(inv, inv));
    if (second) D2 = f32x4.mul(f32x4.mul(f32x4.splat(-2), t), D1);
  } else {
    const e = expNeg(f32x4.neg(f32x4.abs(z)));
    const inv = f32x4.div(one, f32x4.add(one, e));
    F = v128.bitselect(inv, f32x4.mul(e, inv), f32x4.ge(z, zero));
    D1 = f32x4.mul(e, f32x4.mul(inv, inv));
    if (second) D2 = f32x4.neg(f32x4.mul(D1, tanhSimd(f32x4.mul(z, f32x4.splat(0.5)))));
  }
}

/** The r = count − i remaining floats at p (all 4 when r ≥ 4), the missing lanes 0. */
@inline function loadPart(p: usize, r: i32): v128 {
  if (r >= 4) return v128.load(p);
  let v = f32x4.replace_lane(f32x4.splat(0), 0, load<f32>(p));
  if (r > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (r > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

@inline function storePart(p: usize, v: v128, r: i32): void {
  if (r >= 4) { v128.store(p, v); return; }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (r > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (r > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/** y = σ(z); ydot = σ′(z)·zdot when zdot ≠ 0. */
export function activation(kind: i32, beta: f64, z: usize, zdot: usize, y: usize, ydot: usize, count: i32): void {
  const b = f32x4.splat(<f32>beta), invb = f32x4.splat(<f32>1 / <f32>beta);
  for (let i = 0; i < count; i += 4) {
    const o = <usize>i << 2, r = count - i;
    evalVec(kind, b, invb, loadPart(z + o, r), 0);
    storePart(y + o, F, r);
    if (zdot) storePart(ydot + o, f32x4.mul(D1, loadPart(zdot + o, r)), r);
  }
}

/** gz = σ′(z)·gy; gzdot = σ′(z)·gydot + σ″(z)·zdot·gy (absent streams count as zero; gzdot 0 = none). */
export function activationBackward(kind: i32, beta: f64, z: usize, gy: usize, zdot: usize, gydot: usize, gz: usize, gzdot: usize, count: i32): void {
  const b = f32x4.splat(<f32>beta), invb = f32x4.splat(<f32>1 / <f32>beta);
  for (let i = 0; i < count; i += 4) {
    const o = <usize>i << 2, r = count - i;
    evalVec(kind, b, invb, loadPart(z + o, r), gzdot && zdot ? 1 : 0);
    const g = loadPart(gy + o, r);
    storePart(gz + o, f32x4.mul(D1, g), r);
    if (gzdot) {
      let t = f32x4.splat(0);
      if (gydot) t = f32x4.mul(D1, loadPart(gydot + o, r));
      if (zdot) t = f32x4.add(t, f32x4.mul(f32x4.mul(D2, loadPart(zdot + o, r)), g));
      storePart(gzdot + o, t, r);
    }
  }
}

/**
 * The GEMM epilogue's tangent stream: out = σ′(z)·t (z the value stream's pre-activation, t the tangent
 * GEMM's result).
 */
export function activationTangent(kind: i32, beta: f64, z: usize, t: usize, out: usize, count: i32): void {
  const b = f32x4.splat(<f32>beta), invb = f32x4.splat(<f32>1 / <f32>beta);
  for (let i = 0; i < count; i += 4) {
    const o = <usize>i << 2, r = count - i;
    evalVec(kind, b, invb, loadPart(z + o, r), 0);
    storePart(out + o, f32x4.mul(D1, loadPart(t + o, r)), r);
  }
}

/** flags[0] = stage if it is 0 and any of t[0..count) is Infinity or NaN. */
export function checkFinite(t: usize, count: i32, flags: usize, stage: i32): void {
  if (load<i32>(flags) != 0) return;
  for (let i = 0; i < count; i++) {
    const v = load<f32>(t + (<usize>i << 2));
    if (v - v != 0) { store<i32>(flags, stage); return; }
  }
}
