import { encode } from 'fast-png';
import { fail } from '../errors.js';
import { checkTensor, shapeStr, type Tensor } from '../tensor.js';
import { checkWork } from '../limits.js';
import { choice, int, options as validateOptions, show } from '../validate.js';

export interface HeatmapOptions {
  /** 'diverging' (blue–white–red around 0, for signed maps) or 'sequential' (black–yellow, for |a|). Default: diverging if the map has both signs. */
  palette?: 'diverging' | 'sequential';
  /** Pixels per map cell (nearest neighbour). Default 8. */
  scale?: number;
}

/**
 * Renders a map [H, W] (or [1, H, W], or [C, H, W] summed over channels) as an RGBA PNG. The colour
 * scale is symmetric around 0 for signed maps, so equal colours mean equal magnitudes.
 */
export function heatmapPng(map: Tensor, options: HeatmapOptions = {}): Uint8Array {
  if (
    map === null ||
    typeof map !== 'object' ||
    !Array.isArray(map.shape) ||
    map.shape.length < 2 ||
    map.shape.length > 3
  ) {
    fail(
      'INVALID_ARGUMENT',
      `heatmapPng: map must be a tensor of shape [H, W] or [C, H, W], got ${map === null || typeof map !== 'object' ? show(map) : shapeStr(map.shape)}`,
    );
  }
  const o = validateOptions('heatmapPng', options, ['palette', 'scale']);
  const [h, w] = map.shape.slice(-2);
  const s = int('heatmapPng: scale', o.scale, 8, 1, 64);
  // The size is refused before the values are even scanned.
  checkWork(
    'imagePixels',
    h * s * w * s,
    `heatmapPng: the image pixels ((H·scale) × (W·scale) for a ${shapeStr([h, w])} map at scale ${s})`,
    'use a smaller scale or map',
  );
  checkTensor(
    'heatmapPng: map',
    map,
    map.shape.map(() => -1),
  );
  const chosen =
    o.palette === undefined
      ? undefined
      : choice('heatmapPng: palette', o.palette, ['diverging', 'sequential'] as const, 'diverging');
  const plane = new Float64Array(h * w);
  for (let i = 0; i < map.data.length; i++) plane[i % (h * w)] += map.data[i];
  let lo = Infinity,
    hi = -Infinity;
  for (const v of plane) {
    if (!Number.isFinite(v)) fail('INVALID_ARGUMENT', 'heatmap values must be finite');
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const palette = chosen ?? (lo < 0 && hi > 0 ? 'diverging' : 'sequential');
  const bound = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
  const rgba = new Uint8Array(h * s * w * s * 4);
  for (let y = 0; y < h * s; y++) {
    for (let x = 0; x < w * s; x++) {
      const v = plane[Math.floor(y / s) * w + Math.floor(x / s)];
      const [r, g, b] = palette === 'diverging' ? diverging(v / bound) : sequential(Math.abs(v) / bound);
      rgba.set([r, g, b, 255], (y * w * s + x) * 4);
    }
  }
  return encode({ width: w * s, height: h * s, data: rgba, channels: 4, depth: 8 });
}

/** t in [−1, 1] → blue (−1), white (0), red (+1). Shared with the 2D-canvas heatmap renderer. */
export function diverging(t: number): [number, number, number] {
  const a = Math.min(1, Math.abs(t));
  const fade = Math.round(255 * (1 - a));
  return t >= 0 ? [255, fade, fade] : [fade, fade, 255];
}

/** t in [0, 1] → black, red, yellow, white (a 'hot' ramp). Shared with the CLI's overlays and their legend. */
export function sequential(t: number): [number, number, number] {
  const c = (x: number) => Math.round(255 * Math.min(1, Math.max(0, x)));
  return [c(3 * t), c(3 * t - 1), c(3 * t - 2)];
}
