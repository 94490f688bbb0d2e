export type Norm = 'linf' | 'l2';

/**
 * One projected step per example: x' = clip(Π_ball(x + scale·dir(g))) where dir is sign(g) for L∞ and
 * g/‖g‖₂ for L2, Π projects onto the ε-ball around the clean x0, and clip keeps the valid range.
 */
export function project(
  x: Float32Array,
  g: ArrayLike<number>,
  x0: Float32Array,
  scale: number,
  eps: number,
  norm: Norm,
  range: [number, number],
  B: number,
  d: number,
): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++) {
    const o = b * d;
    let gn = 0;
    if (norm === 'l2') {
      for (let i = 0; i < d; i++) gn += g[o + i] ** 2;
      gn = Math.sqrt(gn) || 1;
    }
    for (let i = 0; i < d; i++) out[o + i] = x[o + i] + scale * (norm === 'linf' ? Math.sign(g[o + i]) : g[o + i] / gn);
    if (norm === 'linf') {
      for (let i = 0; i < d; i++) out[o + i] = Math.min(x0[o + i] + eps, Math.max(x0[o + i] - eps, out[o + i]));
    } else {
      let dn = 0;
      for (let i = 0; i < d; i++) dn += (out[o + i] - x0[o + i]) ** 2;
      dn = Math.sqrt(dn);
      if (dn > eps) for (let i = 0; i < d; i++) out[o + i] = x0[o + i] + ((out[o + i] - x0[o + i]) * eps) / dn;
    }
    for (let i = 0; i < d; i++) out[o + i] = Math.min(range[1], Math.max(range[0], out[o + i]));
  }
  return out;
}

export function argmaxRows(z: ArrayLike<number>, B: number, K: number): number[] {
  return Array.from({ length: B }, (_, b) => {
    let best = 0;
    for (let k = 1; k < K; k++) if (z[b * K + k] > z[b * K + best]) best = k;
    return best;
  });
}
