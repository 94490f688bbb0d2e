// Pointwise activations with value, tangent and second-order streams. Each element is evaluated in
// float64 (the same overflow-safe forms as src/ops/activation-math.ts) and stored as float32, so the
// only error is the final rounding. kind: 0 relu, 1 softplus, 2 tanh, 3 sigmoid.

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

/** y = σ(z); ydot = σ′(z)·zdot when zdot ≠ 0. */
export function activation(kind: i32, beta: f64, z: usize, zdot: usize, y: usize, ydot: usize, count: i32): void {
  for (let i = 0; i < count; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, <f32>derivatives(kind, beta, <f64>load<f32>(z + o)));
    if (zdot) store<f32>(ydot + o, <f32>(D1 * <f64>load<f32>(zdot + o)));
  }
}

/** gz = σ′(z)·gy; gzdot = σ′(z)·gydot + σ″(z)·zdot·gy (absent streams count as zero; gzdot 0 = none). */
export function activationBackward(kind: i32, beta: f64, z: usize, gy: usize, zdot: usize, gydot: usize, gz: usize, gzdot: usize, count: i32): void {
  for (let i = 0; i < count; i++) {
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

/** flags[0] = stage if it is 0 and any of t[0..count) is Infinity or NaN. */
export function checkFinite(t: usize, count: i32, flags: usize, stage: i32): void {
  if (load<i32>(flags) != 0) return;
  for (let i = 0; i < count; i++) {
    const v = load<f32>(t + (<usize>i << 2));
    if (v - v != 0) { store<i32>(flags, stage); return; }
  }
}
