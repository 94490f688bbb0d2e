// Pointwise activations with value, tangent and second-order streams. Softplus, the activation of the
// smoothed networks and the hot one, runs 4 lanes at a time in float32 SIMD (kernels/simdmath.ts), in the
// same overflow-safe form as src/ops/activation-math.ts; the others, and the tails of softplus, are
// evaluated in float64 and stored as float32. kind: 0 relu, 1 softplus, 2 tanh, 3 sigmoid.
import { expNeg, log1pUnit } from './simdmath';

let D1: f64 = 0, D2: f64 = 0;

function sigmoid(x: f64): f64 {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** Returns f(z) and leaves f′, f″ in D1, D2. */
function derivatives(kind: i32, beta: f64, z: f64): f64 {
  if (kind == 0) { D1 = z > 0 ? 1 : 0; D2 = 0; return z > 0 ? z : 0; }
  if (kind == 1) {
    const bz = beta * z, s = sigmoid(bz);
    D1 = s; D2 = beta * s * (1 - s);
    return (Math.max(bz, 0) + Math.log1p(Math.exp(-Math.abs(bz)))) / beta;
  }
  if (kind == 2) {
    const t = Math.tanh(z);
    D1 = 1 - t * t; D2 = -2 * t * (1 - t * t);
    return t;
  }
  const s = sigmoid(z);
  D1 = s * (1 - s); D2 = s * (1 - s) * (1 - 2 * s);
  return s;
}

/** For softplus at βz: e = exp(−|βz|), s = σ(βz) = 1/(1+e) for βz ≥ 0 else e/(1+e). */
@inline function sigmoidFromE(bz: v128, e: v128): v128 {
  const inv = f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), e));
  return v128.bitselect(inv, f32x4.mul(e, inv), f32x4.ge(bz, f32x4.splat(0)));
}

/** Softplus 4 lanes at a time; returns how many elements it did (a multiple of 4). */
function softplusSimd(beta: f32, z: usize, zdot: usize, y: usize, ydot: usize, count: i32): i32 {
  const b = f32x4.splat(beta), invb = f32x4.splat(<f32>1 / beta);
  const n = count & ~3;
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const bz = f32x4.mul(b, v128.load(z + o));
    const e = expNeg(f32x4.neg(f32x4.abs(bz)));
    const f = f32x4.mul(f32x4.add(f32x4.max(bz, f32x4.splat(0)), log1pUnit(e)), invb);
    v128.store(y + o, f);
    if (zdot) v128.store(ydot + o, f32x4.mul(sigmoidFromE(bz, e), v128.load(zdot + o)));
  }
  return n;
}

/** Softplus backward 4 lanes at a time: gz = s·gy, gzdot = s·gydot + β·s·(1 − s)·zdot·gy. */
function softplusBackwardSimd(beta: f32, z: usize, gy: usize, zdot: usize, gydot: usize, gz: usize, gzdot: usize, count: i32): i32 {
  const b = f32x4.splat(beta);
  const n = count & ~3;
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const bz = f32x4.mul(b, v128.load(z + o));
    const e = expNeg(f32x4.neg(f32x4.abs(bz)));
    const s = sigmoidFromE(bz, e);
    const g = v128.load(gy + o);
    v128.store(gz + o, f32x4.mul(s, g));
    if (gzdot) {
      let t = f32x4.splat(0);
      if (gydot) t = f32x4.mul(s, v128.load(gydot + o));
      // s·(1 − s) = e/(1 + e)² for either sign of βz: no cancellation in 1 − s where s ≈ 1.
      const inv = f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), e));
      if (zdot) t = f32x4.add(t, f32x4.mul(f32x4.mul(f32x4.mul(b, f32x4.mul(e, f32x4.mul(inv, inv))), v128.load(zdot + o)), g));
      v128.store(gzdot + o, t);
    }
  }
  return n;
}

/** y = σ(z); ydot = σ′(z)·zdot when zdot ≠ 0. */
export function activation(kind: i32, beta: f64, z: usize, zdot: usize, y: usize, ydot: usize, count: i32): void {
  const start = kind == 1 ? softplusSimd(<f32>beta, z, zdot, y, ydot, count) : 0;
  for (let i = start; i < count; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, <f32>derivatives(kind, beta, <f64>load<f32>(z + o)));
    if (zdot) store<f32>(ydot + o, <f32>(D1 * <f64>load<f32>(zdot + o)));
  }
}

/** gz = σ′(z)·gy; gzdot = σ′(z)·gydot + σ″(z)·zdot·gy (absent streams count as zero; gzdot 0 = none). */
export function activationBackward(kind: i32, beta: f64, z: usize, gy: usize, zdot: usize, gydot: usize, gz: usize, gzdot: usize, count: i32): void {
  const start = kind == 1 ? softplusBackwardSimd(<f32>beta, z, gy, zdot, gydot, gz, gzdot, count) : 0;
  for (let i = start; i < count; i++) {
    const o = <usize>i << 2;
    derivatives(kind, beta, <f64>load<f32>(z + o));
    const g = <f64>load<f32>(gy + o);
    store<f32>(gz + o, <f32>(D1 * g));
    if (gzdot) {
      let t: f64 = 0;
      if (gydot) t += D1 * <f64>load<f32>(gydot + o);
      if (zdot) t += D2 * <f64>load<f32>(zdot + o) * g;
      store<f32>(gzdot + o, <f32>t);
    }
  }
}

/**
 * The GEMM epilogue's tangent stream: out = σ′(z)·t (z the value stream's pre-activation, t the tangent
 * GEMM's result).
 */
export function activationTangent(kind: i32, beta: f64, z: usize, t: usize, out: usize, count: i32): void {
  let start = 0;
  if (kind == 1) {
    const b = f32x4.splat(<f32>beta);
    start = count & ~3;
    for (let i = 0; i < start; i += 4) {
      const o = <usize>i << 2;
      const bz = f32x4.mul(b, v128.load(z + o));
      v128.store(out + o, f32x4.mul(sigmoidFromE(bz, expNeg(f32x4.neg(f32x4.abs(bz)))), v128.load(t + o)));
    }
  }
  for (let i = start; i < count; i++) {
    const o = <usize>i << 2;
    derivatives(kind, beta, <f64>load<f32>(z + o));
    store<f32>(out + o, <f32>(D1 * <f64>load<f32>(t + o)));
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
