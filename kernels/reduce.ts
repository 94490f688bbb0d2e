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
    for (let i = i0; i < i1; i++) {
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
