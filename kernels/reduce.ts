// Reductions: channel sums (bias gradients) and the Welford/Chan fold of sampled attributions.
import { noiseAt } from './philox';

/** out[c] += Σ_{n,s} t[n, c, s]. */
export function channelSum(t: usize, n: i32, channels: i32, spatial: i32, out: usize): void {
  for (let c = 0; c < channels; c++) {
    let s: f32 = 0;
    for (let b = 0; b < n; b++) {
      const base = t + (<usize>((b * channels + c) * spatial) << 2);
      for (let i = 0; i < spatial; i++) s += load<f32>(base + (<usize>i << 2));
    }
    const at = out + (<usize>c << 2);
    store<f32>(at, load<f32>(at) + s);
  }
}

/**
 * Folds samples q0..q0+len−1 of gradients [B·len, d] into stats [3, B, d] (path sum, mean, M2) after `done`
 * noise samples: the twin of CpuBackend.sampleReduce, in float64 per element.
 */
export function sampleReduce(noise: i32, k0: u32, k1: u32, ids: usize, params: usize, given: usize, ball: usize, baseline: usize,
  N: i32, S: i32, B: i32, d: i32, x: usize, grads: usize, q0: i32, len: i32, stats: usize, done: i32, multiply: i32, absolute: i32,
  i0: i32, i1: i32): void {
  // Elements [i0, i1) of every example: each element's fold is independent, so threads take element ranges.
  const inner = stats, mean = stats + (<usize>(B * d) << 2), m2 = stats + (<usize>(2 * B * d) << 2);
  const w = params + (<usize>(B + S) << 2);
  for (let b = 0; b < B; b++) {
    let i = i0;
    // Without the multiply by the input (SmoothGrad's fold), 4 elements at a time in two float64x2 chains: the
    // same float64 operations per lane as below, so bitwise its result, with 4 Welford divisions in flight
    // instead of one chain of them.
    if (!multiply) for (; i + 4 <= i1; i += 4) fold4(B, d, grads, w, S, q0, len, inner, mean, m2, done, absolute, b, i);
    for (; i < i1; i++) {
      const t = <usize>(b * d + i) << 2;
      let acc = <f64>load<f32>(inner + t), meanC: f64 = 0, m2C: f64 = 0, count = 0;
      for (let j = 0; j < len; j++) {
        const q = q0 + j, s = q % S;
        acc += <f64>load<f32>(w + (<usize>s << 2)) * <f64>load<f32>(grads + (<usize>((b * len + j) * d + i) << 2));
        if (s != S - 1) continue;
        let a = acc;
        acc = 0;
        if (multiply) {
          // noiseAt computes Philox words at i % 4 == 0; recompute them for this element's group.
          const e = noiseAt4(noise, k0, k1, ids, params, given, ball, N, b, q / S, i, d);
          a *= <f64>load<f32>(x + t) + e - (baseline ? <f64>load<f32>(baseline + t) : 0);
        }
        if (absolute) a = Math.abs(a);
        count++;
        const delta = a - meanC;
        meanC += delta / count;
        m2C += delta * (a - meanC);
      }
      store<f32>(inner + t, <f32>acc);
      if (count > 0) {
        const total = <f64>(done + count), mt = <f64>load<f32>(mean + t), delta = meanC - mt;
        store<f32>(mean + t, <f32>(mt + (delta * count) / total));
        store<f32>(m2 + t, <f32>(<f64>load<f32>(m2 + t) + m2C + (delta * delta * <f64>done * <f64>count) / total));
      }
    }
  }
}

/** noiseAt for an element in any order: first computes the words of its group of four. */
function noiseAt4(noise: i32, k0: u32, k1: u32, ids: usize, params: usize, given: usize, ball: usize, N: i32, b: i32, n: i32, i: i32, d: i32): f64 {
  if (noise != 0 && noise != 4 && (i & 3) != 0) noiseAt(noise, k0, k1, ids, params, given, ball, N, b, n, i & ~3, d);
  return noiseAt(noise, k0, k1, ids, params, given, ball, N, b, n, i, d);
}

/** Welford state of two lanes (v128 globals: one function, several results). */
let ACC: v128 = f64x2.splat(0), MEAN: v128 = f64x2.splat(0), M2: v128 = f64x2.splat(0);

/** sampleReduce's per-element fold (multiply = 0) for elements i, i + 1, i + 2, i + 3 of example b. */
function fold4(B: i32, d: i32, grads: usize, w: usize, S: i32, q0: i32, len: i32, inner: usize, mean: usize, m2: usize, done: i32,
  absolute: i32, b: i32, i: i32): void {
  const t = <usize>(b * d + i) << 2;
  let accA = f64x2.promote_low_f32x4(v128.load64_zero(inner + t)), accB = f64x2.promote_low_f32x4(v128.load64_zero(inner + t + 8));
  let meanA = f64x2.splat(0), meanB = f64x2.splat(0), m2A = f64x2.splat(0), m2B = f64x2.splat(0);
  let count = 0;
  for (let j = 0; j < len; j++) {
    const q = q0 + j, s = q % S;
    const ws = f64x2.splat(<f64>load<f32>(w + (<usize>s << 2)));
    const g = grads + (<usize>((b * len + j) * d + i) << 2);
    accA = f64x2.add(accA, f64x2.mul(ws, f64x2.promote_low_f32x4(v128.load64_zero(g))));
    accB = f64x2.add(accB, f64x2.mul(ws, f64x2.promote_low_f32x4(v128.load64_zero(g + 8))));
    if (s != S - 1) continue;
    let a = accA, c = accB;
    accA = f64x2.splat(0); accB = f64x2.splat(0);
    if (absolute) { a = f64x2.abs(a); c = f64x2.abs(c); }
    count++;
    const n = f64x2.splat(<f64>count);
    const dA = f64x2.sub(a, meanA), dB = f64x2.sub(c, meanB);
    meanA = f64x2.add(meanA, f64x2.div(dA, n)); meanB = f64x2.add(meanB, f64x2.div(dB, n));
    m2A = f64x2.add(m2A, f64x2.mul(dA, f64x2.sub(a, meanA))); m2B = f64x2.add(m2B, f64x2.mul(dB, f64x2.sub(c, meanB)));
  }
  // The per-element epilogue of sampleReduce, lane by lane.
  ACC = accA; MEAN = meanA; M2 = m2A;
  finish(inner, mean, m2, t, count, done, 0);
  finish(inner, mean, m2, t + 4, count, done, 1);
  ACC = accB; MEAN = meanB; M2 = m2B;
  finish(inner, mean, m2, t + 8, count, done, 0);
  finish(inner, mean, m2, t + 12, count, done, 1);
}

@inline function finish(inner: usize, mean: usize, m2: usize, t: usize, count: i32, done: i32, lane: i32): void {
  const acc = lane ? f64x2.extract_lane(ACC, 1) : f64x2.extract_lane(ACC, 0);
  const meanC = lane ? f64x2.extract_lane(MEAN, 1) : f64x2.extract_lane(MEAN, 0);
  const m2C = lane ? f64x2.extract_lane(M2, 1) : f64x2.extract_lane(M2, 0);
  store<f32>(inner + t, <f32>acc);
  if (count > 0) {
    const total = <f64>(done + count), mt = <f64>load<f32>(mean + t), delta = meanC - mt;
    store<f32>(mean + t, <f32>(mt + (delta * count) / total));
    store<f32>(m2 + t, <f32>(<f64>load<f32>(m2 + t) + m2C + (delta * delta * <f64>done * <f64>count) / total));
  }
}
