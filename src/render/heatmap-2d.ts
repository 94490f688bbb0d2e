// The 2D-canvas heatmap renderer: the same colours (src/io/png.ts's ramps) and the same placement (the
// view's cells → pixels matrix) as the WebGPU one, for pages without WebGPU or computing on wasm or cpu.
import { fail } from '../errors.js';
import { diverging, sequential } from '../io/png.js';
import type { HeatmapPlane } from './plane.js';
import type { ViewMatrices } from './types.js';

export function drawHeatmap2d(
  canvas: HTMLCanvasElement | OffscreenCanvas,
  plane: HeatmapPlane,
  view: ViewMatrices,
): void {
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
  if (!ctx)
    fail(
      'INVALID_ARGUMENT',
      'drawHeatmap: this canvas has no 2D context (it already has a WebGPU or WebGL one: use a fresh canvas per renderer)',
    );
  const { width, height, values, bound } = plane;
  const image = new ImageData(width, height);
  for (let i = 0; i < values.length; i++) {
    const t = values[i] / bound;
    image.data.set([...(plane.palette === 'diverging' ? diverging(t) : sequential(Math.abs(t))), 255], i * 4);
  }
  const cells = new OffscreenCanvas(width, height);
  cells.getContext('2d')!.putImageData(image, 0, 0);
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  // The affine part of the cells → pixels matrix (column-major: x' = m0·x + m4·y + m12, y' = m1·x + m5·y + m13).
  const m = view.toCanvas;
  ctx.setTransform(m[0], m[1], m[4], m[5], m[12], m[13]);
  ctx.imageSmoothingEnabled = false; // square cells, as the WebGPU renderer's textureLoad gives
  ctx.drawImage(cells, 0, 0);
  ctx.setTransform(1, 0, 0, 1, 0, 0);
}
