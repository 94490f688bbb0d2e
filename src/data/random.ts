import { philox4x32, seedKey, uniform01 } from '../noise/philox.js';

/**
 * Seeded uniform numbers for data shuffling, initialisation and random starts: Philox4x32-10 keyed by the
 * seed, counter (index, stream, a, b), so every draw is a pure function of its coordinates and the same on
 * every backend and run.
 */
export function uniformAt(seed: number, stream: number, a: number, b: number, index: number): number {
  const [k0, k1] = seedKey(seed);
  return uniform01(philox4x32(index >>> 2, stream, a, b, k0, k1)[index & 3]);
}

/**
 * A seeded uniform point of the L∞ box of radius ε around each row of x0 (rows of d values), clipped to
 * [lo, hi]: PGD's random start. Row b's draws are keyed by (stream, ids[b], draw), so a row's start does not
 * depend on the batch it sits in.
 */
export function boxStart(
  seed: number,
  stream: number,
  ids: readonly number[],
  draw: number,
  x0: ArrayLike<number>,
  d: number,
  epsilon: number,
  [lo, hi]: readonly [number, number],
): Float32Array {
  const start = new Float32Array(ids.length * d);
  ids.forEach((id, b) => {
    for (let i = 0; i < d; i++) {
      const u = uniformAt(seed, stream, id, draw, i);
      start[b * d + i] = Math.min(hi, Math.max(lo, x0[b * d + i] + (2 * u - 1) * epsilon));
    }
  });
  return start;
}

/** A seeded permutation of 0 … n−1 (Fisher–Yates on Philox draws). */
export function permutation(n: number, seed: number, stream: number, a: number, b = 0): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(uniformAt(seed, stream, a, b, i) * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** Philox streams of the training module (the curvature module uses 2–5, SSR's start vectors 6). */
export const DATA_STREAM = {
  split: 10,
  epoch: 11,
  init: 12,
  madryStart: 13,
  subset: 14,
  augment: 15,
  robustStart: 16,
} as const;
