// The values a heatmap shows: a map [H, W], [1, H, W] or [C, H, W] (summed over channels, as heatmapPng
// does), validated, with the colour scale and palette both renderers use.
import { fail } from '../errors.js';
import { checkTensor, shapeStr, type Tensor } from '../tensor.js';
import { choice, show } from '../validate.js';

export type HeatmapPalette = 'sequential' | 'diverging';

export interface HeatmapPlane {
  height: number;
  width: number;
  /** Row-major [H, W] values. */
  values: Float32Array;
  /** max |v| (1 for an all-zero map): colours are v / bound, so equal colours mean equal magnitudes. */
  bound: number;
  palette: HeatmapPalette;
}

export function heatmapPlane(name: string, map: Tensor, palette: unknown): HeatmapPlane {
  if (
    map === null ||
    typeof map !== 'object' ||
    !Array.isArray(map.shape) ||
    map.shape.length < 2 ||
    map.shape.length > 3
  )
    fail(
      'INVALID_ARGUMENT',
      `${name}: map must be a tensor of shape [H, W] or [C, H, W], got ${map === null || typeof map !== 'object' ? show(map) : shapeStr(map.shape)}`,
    );
  checkTensor(
    `${name}: map`,
    map,
    map.shape.map(() => -1),
  );
  const [height, width] = map.shape.slice(-2);
  if (height < 1 || width < 1) fail('INVALID_ARGUMENT', `${name}: map must not be empty, got ${shapeStr(map.shape)}`);
  const sums = new Float64Array(height * width);
  for (let i = 0; i < map.data.length; i++) sums[i % (height * width)] += map.data[i];
  let lo = Infinity,
    hi = -Infinity;
  for (const v of sums) {
    if (!Number.isFinite(v)) fail('INVALID_ARGUMENT', `${name}: map values must be finite`);
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const chosen =
    palette === undefined
      ? lo < 0 && hi > 0
        ? 'diverging'
        : 'sequential'
      : choice(`${name}: palette`, palette, ['sequential', 'diverging'] as const, 'sequential');
  return {
    height,
    width,
    values: Float32Array.from(sums),
    bound: Math.max(Math.abs(lo), Math.abs(hi)) || 1,
    palette: chosen,
  };
}
