// Geometric comparisons of attribution maps: centre of mass and its dislocation (Wang et al. 2020,
// "Smoothed Geometry for Robust Attribution", §5), and cosine distance.
import { fail } from '../errors.js';
import { checkTensor, shapeStr, type Tensor } from '../tensor.js';
import { checkPair, row } from './common.js';

/** The image dimensions of a [B, H, W] or [B, 1, H, W] map batch. */
function checkImages(name: string, t: unknown): { B: number; H: number; W: number; data: Float32Array } {
  if (t === null || typeof t !== 'object' || !Array.isArray((t as Tensor).shape)) {
    fail(
      'INVALID_ARGUMENT',
      `${name} must be a tensor { shape: number[], data: Float32Array } of shape [B, H, W] or [B, 1, H, W]`,
    );
  }
  const shape = (t as Tensor).shape;
  const ok = shape.length === 3 || (shape.length === 4 && shape[1] === 1);
  if (!ok) {
    fail(
      'INVALID_ARGUMENT',
      `${name} has shape ${shapeStr(shape)}, expected [B, H, W] or [B, 1, H, W] (reduce the channels first, e.g. sum |map| over C)`,
    );
  }
  const { data } = checkTensor(
    name,
    t,
    shape.map(() => -1),
  );
  return { B: shape[0], H: shape[shape.length - 2], W: shape[shape.length - 1], data };
}

/**
 * The centre of mass [row, col] of |map| per example, in pixel coordinates (row 0 / col 0 is the centre of
 * the first pixel): row = Σ r·|m[r, c]| / Σ |m|, col likewise. [NaN, NaN] for an all-zero map.
 *
 * @param map [B, H, W] or [B, 1, H, W].
 */
export function centerOfMass(map: Tensor): number[][] {
  const { B, H, W, data } = checkImages('map', map);
  const out: number[][] = [];
  for (let b = 0; b < B; b++) {
    let m = 0,
      mr = 0,
      mc = 0;
    const base = b * H * W;
    for (let r = 0; r < H; r++) {
      for (let c = 0; c < W; c++) {
        const w = Math.abs(data[base + r * W + c]);
        m += w;
        mr += r * w;
        mc += c * w;
      }
    }
    out.push(m === 0 ? [NaN, NaN] : [mr / m, mc / m]);
  }
  return out;
}

/**
 * The centre-of-mass dislocation per example: the Euclidean distance, in pixels, between the centres of
 * mass of |a| and |b| (see centerOfMass). NaN where either map is all zero.
 *
 * @param a, b maps of the same shape, [B, H, W] or [B, 1, H, W].
 */
export function centerOfMassDislocation(a: Tensor, b: Tensor): number[] {
  checkImages('a', a);
  checkPair(a, b);
  const ca = centerOfMass(a),
    cb = centerOfMass(b);
  return ca.map(([r, c], i) => Math.hypot(r - cb[i][0], c - cb[i][1]));
}

/**
 * Cosine distance per example, 1 − ⟨a, b⟩ / (‖a‖₂‖b‖₂), in [0, 2], on the flattened maps. NaN where
 * either map is all zero (the angle is undefined).
 */
export function cosineDistance(a: Tensor, b: Tensor): number[] {
  const [A, Bm] = checkPair(a, b);
  const out: number[] = [];
  for (let e = 0; e < A.B; e++) {
    const x = row(A, e),
      y = row(Bm, e);
    let xy = 0,
      xx = 0,
      yy = 0;
    for (let i = 0; i < x.length; i++) {
      xy += x[i] * y[i];
      xx += x[i] * x[i];
      yy += y[i] * y[i];
    }
    if (xx === 0 || yy === 0) {
      out.push(NaN);
      continue;
    }
    const cos = Math.max(-1, Math.min(1, xy / (Math.sqrt(xx) * Math.sqrt(yy))));
    out.push(1 - cos);
  }
  return out;
}
