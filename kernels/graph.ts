// Graph primitives of the wasm backend (Backend.add, copyBlocks, batchNorm*): the float32 twins of
// CpuBackend's loops. Elementwise streams run 4 lanes at a time; per-channel sums accumulate in float64.

/** out = a + b over count floats. */
export function add(a: usize, b: usize, out: usize, count: i32): void {
  const n = count & ~3;
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (let i = n; i < count; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** dst[b·dstBlock + dstOffset + j] = src[b·srcBlock + srcOffset + j] for b < n, j < length. */
export function copyBlocks(src: usize, dst: usize, n: i32, length: i32, srcBlock: i32, srcOffset: i32, dstBlock: i32, dstOffset: i32): void {
  for (let b = 0; b < n; b++) {
    memory.copy(dst + (<usize>(b * dstBlock + dstOffset) << 2), src + (<usize>(b * srcBlock + srcOffset) << 2), <usize>length << 2);
  }
}

/**
 * coef [6, C] = (s = k·w, t = b − m·k·w, ṡ = k·ẇ, ṫ = ḃ − m·ṡ, m, k), k = 1/√(var + ε), in float64
 * (wd, bd 0 = zero tangents).
 */
export function batchNormCoefficients(mean: usize, variance: usize, weight: usize, bias: usize, wd: usize, bd: usize, eps: f64, C: i32, out: usize): void {
  for (let c = 0; c < C; c++) {
    const o = <usize>c << 2;
    const m = <f64>load<f32>(mean + o), w = <f64>load<f32>(weight + o);
    const k = 1 / Math.sqrt(<f64>load<f32>(variance + o) + eps);
    const sdot = wd ? k * <f64>load<f32>(wd + o) : 0;
    store<f32>(out + o, <f32>(k * w));
    store<f32>(out + (<usize>(C + c) << 2), <f32>(<f64>load<f32>(bias + o) - m * k * w));
    store<f32>(out + (<usize>(2 * C + c) << 2), <f32>sdot);
    store<f32>(out + (<usize>(3 * C + c) << 2), <f32>(-m * sdot + (bd ? <f64>load<f32>(bd + o) : 0)));
    store<f32>(out + (<usize>(4 * C + c) << 2), <f32>m);
    store<f32>(out + (<usize>(5 * C + c) << 2), <f32>k);
  }
}

/**
 * y = x·s + t; with ydot ≠ 0, ẏ = ẋ·s (xdot ≠ 0) + x·ṡ + ṫ (params ≠ 0), over [n, C, spatial], one run of
 * `spatial` values per (example, channel) with its coefficients splatted.
 */
export function batchNorm(x: usize, xdot: usize, coef: usize, y: usize, ydot: usize, n: i32, C: i32, spatial: i32, params: i32): void {
  const v = spatial & ~3;
  for (let b = 0; b < n; b++) for (let c = 0; c < C; c++) {
    const base = <usize>((b * C + c) * spatial) << 2;
    const s = load<f32>(coef + (<usize>c << 2)), t = load<f32>(coef + (<usize>(C + c) << 2));
    const sd: f32 = params ? load<f32>(coef + (<usize>(2 * C + c) << 2)) : 0;
    const td: f32 = params ? load<f32>(coef + (<usize>(3 * C + c) << 2)) : 0;
    const S = f32x4.splat(s), T = f32x4.splat(t), SD = f32x4.splat(sd), TD = f32x4.splat(td);
    for (let i = 0; i < v; i += 4) {
      const o = base + (<usize>i << 2);
      const xv = v128.load(x + o);
      v128.store(y + o, f32x4.add(f32x4.mul(xv, S), T));
      if (ydot) {
        let d = f32x4.add(f32x4.mul(xv, SD), TD);
        if (xdot) d = f32x4.add(f32x4.mul(v128.load(xdot + o), S), d);
        v128.store(ydot + o, d);
      }
    }
    for (let i = v; i < spatial; i++) {
      const o = base + (<usize>i << 2);
      const xv = load<f32>(x + o);
      store<f32>(y + o, xv * s + t);
      if (ydot) store<f32>(ydot + o, (xdot ? load<f32>(xdot + o) * s : 0) + (xv * sd + td));
    }
  }
}

/** x̄ = ȳ·s; with gxdot ≠ 0, ẋ̄ = ẏ̄·s (gydot ≠ 0) + ȳ·ṡ (params ≠ 0). */
export function batchNormBackward(gy: usize, gydot: usize, coef: usize, gx: usize, gxdot: usize, n: i32, C: i32, spatial: i32, params: i32): void {
  const v = spatial & ~3;
  for (let b = 0; b < n; b++) for (let c = 0; c < C; c++) {
    const base = <usize>((b * C + c) * spatial) << 2;
    const s = load<f32>(coef + (<usize>c << 2));
    const sd: f32 = params ? load<f32>(coef + (<usize>(2 * C + c) << 2)) : 0;
    const S = f32x4.splat(s), SD = f32x4.splat(sd);
    for (let i = 0; i < v; i += 4) {
      const o = base + (<usize>i << 2);
      const g = v128.load(gy + o);
      v128.store(gx + o, f32x4.mul(g, S));
      if (gxdot) {
        let d = f32x4.mul(g, SD);
        if (gydot) d = f32x4.add(f32x4.mul(v128.load(gydot + o), S), d);
        v128.store(gxdot + o, d);
      }
    }
    for (let i = v; i < spatial; i++) {
      const o = base + (<usize>i << 2);
      const g = load<f32>(gy + o);
      store<f32>(gx + o, g * s);
      if (gxdot) store<f32>(gxdot + o, (gydot ? load<f32>(gydot + o) * s : 0) + g * sd);
    }
  }
}

/**
 * w̄[c] = Σ ȳ·(x − m)·k; with gwdot ≠ 0, ẇ̄[c] = Σ ẏ̄·(x − m)·k (gydot ≠ 0) + ȳ·ẋ·k (xdot ≠ 0).
 * Sums in float64: a channel may gather n·spatial terms (ResNet: 16·112·112).
 */
export function batchNormWeightGrad(x: usize, xdot: usize, gy: usize, gydot: usize, coef: usize, gw: usize, gwdot: usize, n: i32, C: i32, spatial: i32): void {
  for (let c = 0; c < C; c++) {
    const m = <f64>load<f32>(coef + (<usize>(4 * C + c) << 2)), k = <f64>load<f32>(coef + (<usize>(5 * C + c) << 2));
    let s: f64 = 0, sd: f64 = 0;
    for (let b = 0; b < n; b++) {
      const base = <usize>((b * C + c) * spatial) << 2;
      for (let i = 0; i < spatial; i++) {
        const o = base + (<usize>i << 2);
        const xhat = (<f64>load<f32>(x + o) - m) * k, g = <f64>load<f32>(gy + o);
        s += g * xhat;
        if (gwdot) {
          if (gydot) sd += <f64>load<f32>(gydot + o) * xhat;
          if (xdot) sd += g * <f64>load<f32>(xdot + o) * k;
        }
      }
    }
    store<f32>(gw + (<usize>c << 2), <f32>s);
    if (gwdot) store<f32>(gwdot + (<usize>c << 2), <f32>sd);
  }
}
