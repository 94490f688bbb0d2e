import { normalQuantile4, Z0, Z1, Z2, Z3 } from './simdmath';

// Philox4x32-10, bit-identical to src/noise/philox.ts and shaders/philox.wgsl (counter layout: word 0 =
// element/4, word 1 = noise sample, word 2 = example id, word 3 = stream), and the sample-input kernel.
// The 32×32→64 multiply is one u64 product here (i64x2.extmul in the SIMD path of sampleInputs). Noise kinds: 0 none, 1 gaussian, 2 cube, 3 ball, 4 given.

export let W0: u32 = 0, W1: u32 = 0, W2: u32 = 0, W3: u32 = 0;

/** Leaves the four output words in W0..W3. */
export function philox(c0: u32, c1: u32, c2: u32, c3: u32, k0: u32, k1: u32): void {
  for (let r = 0; r < 10; r++) {
    if (r > 0) { k0 += 0x9e3779b9; k1 += 0xbb67ae85; }
    const p0 = <u64>0xd2511f53 * <u64>c0, p1 = <u64>0xcd9e8d57 * <u64>c2;
    const hi0 = <u32>(p0 >> 32), lo0 = <u32>p0, hi1 = <u32>(p1 >> 32), lo1 = <u32>p1;
    c0 = hi1 ^ c1 ^ k0; c1 = lo1; c2 = hi0 ^ c3 ^ k1; c3 = lo0;
  }
  W0 = c0; W1 = c1; W2 = c2; W3 = c3;
}

/** Writes count raw words of philox(i/4, c1, c2, c3) (word i%4) to out: the test hook for bit-exactness. */
export function philoxWords(c1: u32, c2: u32, c3: u32, k0: u32, k1: u32, out: usize, count: i32): void {
  for (let i = 0; i < count; i++) {
    if ((i & 3) == 0) philox(<u32>(i >> 2), c1, c2, c3, k0, k1);
    store<u32>(out + (<usize>i << 2), pick(i));
  }
}

@inline function pick(i: i32): u32 {
  const j = i & 3;
  return j == 0 ? W0 : j == 1 ? W1 : j == 2 ? W2 : W3;
}

export function uniform01(bits: u32): f64 {
  return (<f64>(bits >>> 9) + 0.5) * 5.9604644775390625e-8 * 2; // 2^-23
}

/** Giles' single-precision erfinv, as in src/noise/philox.ts. */
export function normalFromUniform(u: f64): f64 {
  const x = 2 * u - 1;
  let w = -Math.log(4 * u * (1 - u));
  let p: f64;
  if (w < 5) {
    w -= 2.5;
    p = 2.81022636e-8;
    p = 3.43273939e-7 + p * w;
    p = -3.5233877e-6 + p * w;
    p = -4.39150654e-6 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = Math.sqrt(w) - 3;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  return Math.SQRT2 * p * x;
}

@inline function unitDraw(noise: i32, bits: u32): f64 {
  return noise == 2 ? 2 * uniform01(bits) - 1 : normalFromUniform(uniform01(bits));
}

/** ε for element i of noise sample n of example b; words for i are computed when i % 4 == 0 (callers walk i upward). */
export function noiseAt(noise: i32, k0: u32, k1: u32, ids: usize, params: usize, given: usize, ball: usize, N: i32, b: i32, n: i32, i: i32, d: i32): f64 {
  if (noise == 0) return 0;
  if (noise == 4) return <f64>load<f32>(given + (<usize>(n * d + i) << 2));
  if ((i & 3) == 0) philox(<u32>(i >> 2), <u32>n, load<u32>(ids + (<usize>b << 2)), 0, k0, k1);
  const scale = noise == 3 ? <f64>load<f32>(ball + (<usize>(b * N + n) << 2)) : <f64>load<f32>(params + (<usize>b << 2));
  return scale * unitDraw(noise, pick(i));
}

/**
 * Gaussian (noise 1) or ball (noise 3) noise for elements [0, d16) of one sample row, d16 a multiple of 16:
 * Philox for four counters at once (lane L = element group g + L; the 32×32→64 products by i64x2.extmul),
 * the normal quantile in float32 SIMD (simdmath.ts), a 4×4 transpose back to element order, and the
 * sample input baseline + α·(x + scale·z − baseline) in float32. The words are those of philox(); the
 * values agree with the float64 scalar path to float32 rounding (test/noise.test.ts).
 */
function gaussianRow(k0: u32, k1: u32, n: u32, id: u32, scale: f32, alpha: f32, x: usize, baseline: usize, out: usize, d16: i32): void {
  const sc = f32x4.splat(scale), al = f32x4.splat(alpha);
  const m0 = i32x4.splat(0xd2511f53), m1 = i32x4.splat(0xcd9e8d57);
  const inv = f32x4.splat(1.1920928955078125e-7); // 2^-23
  for (let i = 0; i < d16; i += 16) {
    const g = i >> 2;
    let x0 = i32x4(g, g + 1, g + 2, g + 3), x1 = i32x4.splat(n), x2 = i32x4.splat(id), x3 = i32x4.splat(0);
    let a: u32 = k0, b: u32 = k1;
    for (let r = 0; r < 10; r++) {
      if (r > 0) { a += 0x9e3779b9; b += 0xbb67ae85; }
      const hi0 = v128.shuffle<i32>(i64x2.extmul_low_i32x4_u(x0, m0), i64x2.extmul_high_i32x4_u(x0, m0), 1, 3, 5, 7);
      const hi1 = v128.shuffle<i32>(i64x2.extmul_low_i32x4_u(x2, m1), i64x2.extmul_high_i32x4_u(x2, m1), 1, 3, 5, 7);
      const lo0 = i32x4.mul(x0, m0), lo1 = i32x4.mul(x2, m1);
      x0 = v128.xor(v128.xor(hi1, x1), i32x4.splat(a));
      x1 = lo1;
      x2 = v128.xor(v128.xor(hi0, x3), i32x4.splat(b));
      x3 = lo0;
    }
    // Word j of lane L belongs to element 4·(g + L) + j; uniform01 = ((w >>> 9) + 0.5)·2^-23, exact in float32.
    const half = f32x4.splat(0.5);
    normalQuantile4(
      f32x4.mul(f32x4.add(f32x4.convert_i32x4_s(i32x4.shr_u(x0, 9)), half), inv),
      f32x4.mul(f32x4.add(f32x4.convert_i32x4_s(i32x4.shr_u(x1, 9)), half), inv),
      f32x4.mul(f32x4.add(f32x4.convert_i32x4_s(i32x4.shr_u(x2, 9)), half), inv),
      f32x4.mul(f32x4.add(f32x4.convert_i32x4_s(i32x4.shr_u(x3, 9)), half), inv));
    const z0 = Z0, z1 = Z1, z2 = Z2, z3 = Z3;
    const t0 = v128.shuffle<f32>(z0, z1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(z2, z3, 0, 4, 1, 5);
    const t2 = v128.shuffle<f32>(z0, z1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(z2, z3, 2, 6, 3, 7);
    const o = <usize>i << 2;
    for (let k = 0; k < 4; k++) {
      const e = k == 0 ? v128.shuffle<f32>(t0, t1, 0, 1, 4, 5) : k == 1 ? v128.shuffle<f32>(t0, t1, 2, 3, 6, 7) : k == 2 ? v128.shuffle<f32>(t2, t3, 0, 1, 4, 5) : v128.shuffle<f32>(t2, t3, 2, 3, 6, 7);
      const ok = o + (<usize>k << 4);
      const xv = f32x4.add(v128.load(x + ok), f32x4.mul(sc, e));
      if (baseline) {
        const bv = v128.load(baseline + ok);
        v128.store(out + ok, f32x4.add(bv, f32x4.mul(al, f32x4.sub(xv, bv))));
      } else {
        v128.store(out + ok, f32x4.mul(al, xv));
      }
    }
  }
}

/**
 * out[b·len + j] = baseline + α_s·(x + ε_n − baseline) for q = q0 + j, n = ⌊q/S⌋, s = q mod S, examples
 * b in [b0, b1) (threads take example ranges; rows of one example by q0, len and out).
 */
export function sampleInputs(noise: i32, k0: u32, k1: u32, ids: usize, params: usize, given: usize, ball: usize, baseline: usize,
  N: i32, S: i32, B: i32, d: i32, x: usize, q0: i32, len: i32, out: usize, b0: i32, b1: i32): void {
  for (let b = b0; b < b1; b++) for (let j = 0; j < len; j++) {
    const q = q0 + j, n = q / S;
    const alpha = <f64>load<f32>(params + (<usize>(B + q % S) << 2));
    const row = out + (<usize>((b * len + j) * d) << 2);
    let i = 0;
    if (noise == 1 || noise == 3) {
      // Whole groups of 16 in SIMD; the rest (from a multiple of 16, so Philox groups line up) below.
      i = d & ~15;
      const id = load<u32>(ids + (<usize>b << 2));
      const scale = noise == 3 ? load<f32>(ball + (<usize>(b * N + n) << 2)) : load<f32>(params + (<usize>b << 2));
      const xr = x + (<usize>(b * d) << 2);
      gaussianRow(k0, k1, <u32>n, id, scale, <f32>alpha, xr, baseline ? baseline + (<usize>(b * d) << 2) : 0, row, i);
    }
    for (; i < d; i++) {
      const t = <usize>(b * d + i) << 2;
      const xv = <f64>load<f32>(x + t) + noiseAt(noise, k0, k1, ids, params, given, ball, N, b, n, i, d);
      const bv: f64 = baseline ? <f64>load<f32>(baseline + t) : 0;
      store<f32>(row + (<usize>i << 2), <f32>(bv + alpha * (xv - bv)));
    }
  }
}

/** out[b, n] = scale_b · U^(1/d) / |z| for the L2 ball. */
export function ballFactors(noise: i32, k0: u32, k1: u32, ids: usize, params: usize, N: i32, B: i32, d: i32, out: usize): void {
  for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) {
    const id = load<u32>(ids + (<usize>b << 2));
    let ss: f64 = 0;
    for (let i = 0; i < d; i++) {
      if ((i & 3) == 0) philox(<u32>(i >> 2), <u32>n, id, 0, k0, k1);
      const z = unitDraw(noise, pick(i));
      ss += z * z;
    }
    philox(0, <u32>n, id, 1, k0, k1);
    const u = uniform01(W0);
    store<f32>(out + (<usize>(b * N + n) << 2), <f32>(<f64>load<f32>(params + (<usize>b << 2)) * Math.pow(u, 1 / <f64>d) / Math.sqrt(ss)));
  }
}
