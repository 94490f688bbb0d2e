// Pointwise activations with value, tangent and second-order streams, all four kinds 4 lanes at a time in
// float32 SIMD (kernels/simdmath.ts), in the overflow-safe forms of src/backend/activation-math.ts.
// kind: 0 relu, 1 softplus, 2 tanh, 3 sigmoid. The last 1–3 elements of a range go through the same SIMD
// code on a partly filled vector, so every element's result is the same wherever a range starts or ends
// (thread splits and GEMM epilogue panels need not fall on multiples of 4 to agree bitwise).
import { expNeg, log1pUnit, tanhFromE, tanhSimd } from './simdmath';

// f(z), f′(z), f″(z) of the last evalVec call (v128 globals: AssemblyScript functions return one value).
let F: v128 = f32x4.splat(0), D1: v128 = f32x4.splat(0), D2: v128 = f32x4.splat(0);

/**
 * Sets F (want & 1), D1 (want & 2) and D2 (want & 4) for 4 lanes of z, computing only what is asked for.
 * Softplus at βz and the sigmoid use e = exp(−|·|): σ = 1/(1 + e) or e/(1 + e) by sign, σ(1 − σ) = e/(1 + e)²
 * with no cancellation in 1 − σ; the sigmoid's 1 − 2σ = −tanh(z/2) (accurate near 0, where (1 − e)/(1 + e)
 * would cancel); tanh′ = 4e/(1 + e)² with e = exp(−2|z|).
 */
@inline function evalVec(kind: i32, b: v128, invb: v128, z: v128, want: i32): void {
  const zero = f32x4.splat(0), one = f32x4.splat(1);
  if (kind == 0) {
    const pos = f32x4.gt(z, zero); // NaN → 0, as z > 0 ? z : 0
    F = v128.and(z, pos);
    D1 = v128.and(one, pos);
    D2 = zero;
  } else if (kind == 1) {
    const bz = f32x4.mul(b, z);
    const e = expNeg(f32x4.neg(f32x4.abs(bz)));
    if (want & 1) F = f32x4.mul(f32x4.add(f32x4.max(bz, zero), log1pUnit(e)), invb);
    if (want & 6) {
      const inv = f32x4.div(one, f32x4.add(one, e));
      D1 = v128.bitselect(inv, f32x4.mul(e, inv), f32x4.ge(bz, zero));
      if (want & 4) D2 = f32x4.mul(b, f32x4.mul(e, f32x4.mul(inv, inv)));
    }
  } else if (kind == 2) {
    const a = f32x4.abs(z);
    const e = expNeg(f32x4.mul(a, f32x4.splat(-2)));
    const t = v128.or(tanhFromE(a, e), v128.and(z, i32x4.splat(0x80000000)));
    F = t;
    if (want & 6) {
      const inv = f32x4.div(one, f32x4.add(one, e));
      D1 = f32x4.mul(f32x4.mul(f32x4.splat(4), e), f32x4.mul(inv, inv));
      if (want & 4) D2 = f32x4.mul(f32x4.mul(f32x4.splat(-2), t), D1);
    }
  } else {
    const e = expNeg(f32x4.neg(f32x4.abs(z)));
    const inv = f32x4.div(one, f32x4.add(one, e));
    F = v128.bitselect(inv, f32x4.mul(e, inv), f32x4.ge(z, zero));
    D1 = f32x4.mul(e, f32x4.mul(inv, inv));
    if (want & 4) D2 = f32x4.neg(f32x4.mul(D1, tanhSimd(f32x4.mul(z, f32x4.splat(0.5)))));
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
  // One loop per kind (a constant after inlining): a loop holding all four kinds' code spills v128 registers.
  if (kind == 0) activationLoop(0, beta, z, zdot, y, ydot, count);
  else if (kind == 1) activationLoop(1, beta, z, zdot, y, ydot, count);
  else if (kind == 2) activationLoop(2, beta, z, zdot, y, ydot, count);
  else activationLoop(3, beta, z, zdot, y, ydot, count);
}

@inline function activationLoop(kind: i32, beta: f64, z: usize, zdot: usize, y: usize, ydot: usize, count: i32): void {
  const b = f32x4.splat(<f32>beta), invb = f32x4.splat(<f32>1 / <f32>beta);
  // Whole vectors without the tail's branches (they would make V8 spill the live vectors), then the tail.
  let i = 0;
  for (; i + 4 <= count; i += 4) activationStep(kind, b, invb, z, zdot, y, ydot, <usize>i << 2, 4);
  if (i < count) activationStep(kind, b, invb, z, zdot, y, ydot, <usize>i << 2, count - i);
}

@inline function activationStep(kind: i32, b: v128, invb: v128, z: usize, zdot: usize, y: usize, ydot: usize, o: usize, r: i32): void {
  evalVec(kind, b, invb, loadPart(z + o, r), zdot ? 3 : 1);
  storePart(y + o, F, r);
  if (zdot) storePart(ydot + o, f32x4.mul(D1, loadPart(zdot + o, r)), r);
}

/** gz = σ′(z)·gy; gzdot = σ′(z)·gydot + σ″(z)·zdot·gy (absent streams count as zero; gzdot 0 = none). */
export function activationBackward(kind: i32, beta: f64, z: usize, gy: usize, zdot: usize, gydot: usize, gz: usize, gzdot: usize, count: i32): void {
  if (kind == 0) backwardLoop(0, beta, z, gy, zdot, gydot, gz, gzdot, count);
  else if (kind == 1) backwardLoop(1, beta, z, gy, zdot, gydot, gz, gzdot, count);
  else if (kind == 2) backwardLoop(2, beta, z, gy, zdot, gydot, gz, gzdot, count);
  else backwardLoop(3, beta, z, gy, zdot, gydot, gz, gzdot, count);
}

@inline function backwardLoop(kind: i32, beta: f64, z: usize, gy: usize, zdot: usize, gydot: usize, gz: usize, gzdot: usize, count: i32): void {
  const b = f32x4.splat(<f32>beta), invb = f32x4.splat(<f32>1 / <f32>beta);
  let i = 0;
  for (; i + 4 <= count; i += 4) backwardStep(kind, b, invb, z, gy, zdot, gydot, gz, gzdot, <usize>i << 2, 4);
  if (i < count) backwardStep(kind, b, invb, z, gy, zdot, gydot, gz, gzdot, <usize>i << 2, count - i);
}

@inline function backwardStep(kind: i32, b: v128, invb: v128, z: usize, gy: usize, zdot: usize, gydot: usize, gz: usize, gzdot: usize, o: usize, r: i32): void {
  evalVec(kind, b, invb, loadPart(z + o, r), gzdot && zdot ? 6 : 2);
  const g = loadPart(gy + o, r);
  storePart(gz + o, f32x4.mul(D1, g), r);
  if (gzdot) {
    let t = f32x4.splat(0);
    if (gydot) t = f32x4.mul(D1, loadPart(gydot + o, r));
    if (zdot) t = f32x4.add(t, f32x4.mul(f32x4.mul(D2, loadPart(zdot + o, r)), g));
    storePart(gzdot + o, t, r);
  }
}

/**
 * The GEMM epilogue's tangent stream: out = σ′(z)·t (z the value stream's pre-activation, t the tangent
 * GEMM's result).
 */
export function activationTangent(kind: i32, beta: f64, z: usize, t: usize, out: usize, count: i32): void {
  if (kind == 0) tangentLoop(0, beta, z, t, out, count);
  else if (kind == 1) tangentLoop(1, beta, z, t, out, count);
  else if (kind == 2) tangentLoop(2, beta, z, t, out, count);
  else tangentLoop(3, beta, z, t, out, count);
}

@inline function tangentLoop(kind: i32, beta: f64, z: usize, t: usize, out: usize, count: i32): void {
  const b = f32x4.splat(<f32>beta), invb = f32x4.splat(<f32>1 / <f32>beta);
  let i = 0;
  for (; i + 4 <= count; i += 4) tangentStep(kind, b, invb, z, t, out, <usize>i << 2, 4);
  if (i < count) tangentStep(kind, b, invb, z, t, out, <usize>i << 2, count - i);
}

@inline function tangentStep(kind: i32, b: v128, invb: v128, z: usize, t: usize, out: usize, o: usize, r: i32): void {
  evalVec(kind, b, invb, loadPart(z + o, r), 2);
  storePart(out + o, f32x4.mul(D1, loadPart(t + o, r)), r);
}

/** flags[0] = stage if it is 0 and any of t[0..count) is Infinity or NaN. */
export function checkFinite(t: usize, count: i32, flags: usize, stage: i32): void {
  if (load<i32>(flags) != 0) return;
  for (let i = 0; i < count; i++) {
    const v = load<f32>(t + (<usize>i << 2));
    if (v - v != 0) { store<i32>(flags, stage); return; }
  }
}
