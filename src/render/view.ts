// The view transform of a heatmap: map cells → canvas pixels (fit the whole map, centred, square cells;
// then an optional zoom about a cell) and canvas pixels → clip space. Built with wgpu-matrix; the WebGPU
// renderer uses the product, the 2D-canvas renderer the cells → pixels part, so both place cells alike.
import { mat4 } from 'wgpu-matrix';
import { fail } from '../errors.js';
import { finite } from '../validate.js';
import type { HeatmapView, ViewMatrices } from './types.js';

export function heatmapView(
  name: string,
  canvas: { width: number; height: number },
  map: { width: number; height: number },
  view: HeatmapView = {},
): ViewMatrices {
  if (view === null || typeof view !== 'object') fail('INVALID_ARGUMENT', `${name}: view must be an object`);
  const zoom = finite(`${name}: view.zoom`, view.zoom) ?? 1;
  if (!(zoom > 0)) fail('INVALID_ARGUMENT', `${name}: view.zoom must be > 0, got ${zoom}`);
  const center = view.center ?? [map.width / 2, map.height / 2];
  if (!Array.isArray(center) || center.length !== 2 || !center.every(Number.isFinite))
    fail('INVALID_ARGUMENT', `${name}: view.center must be [x, y] in map cells`);
  // Largest scale at which the whole map fits, centred (letterboxed when the aspect ratios differ).
  const fit = Math.min(canvas.width / map.width, canvas.height / map.height);
  const toCanvas = mat4.identity();
  mat4.translate(toCanvas, [(canvas.width - fit * map.width) / 2, (canvas.height - fit * map.height) / 2, 0], toCanvas);
  mat4.scale(toCanvas, [fit, fit, 1], toCanvas);
  mat4.translate(toCanvas, [center[0], center[1], 0], toCanvas);
  mat4.scale(toCanvas, [zoom, zoom, 1], toCanvas);
  mat4.translate(toCanvas, [-center[0], -center[1], 0], toCanvas);
  // Canvas pixels: origin top left, y down; clip space: y up.
  const projection = mat4.ortho(0, canvas.width, canvas.height, 0, -1, 1);
  return { toCanvas, toClip: mat4.multiply(projection, toCanvas) };
}
