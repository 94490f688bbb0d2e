// Heatmaps on a canvas: a WebGPU render pipeline over the map (heatmap-webgpu.ts) or, where WebGPU is not
// wanted or not there, a 2D canvas (heatmap-2d.ts). Both draw the same colours at the same places, so a
// page can switch without changing its look; the renderer says which it is and why.
import { fail, SmoothgeoError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { choice, show, options as validateOptions } from '../validate.js';
import { drawHeatmap2d } from './heatmap-2d.js';
import { WebGPUHeatmaps } from './heatmap-webgpu.js';
import { heatmapPlane, type HeatmapPalette } from './plane.js';
import type { HeatmapView } from './types.js';
import { heatmapView } from './view.js';

export type { HeatmapPalette } from './plane.js';
export type { HeatmapView } from './types.js';

export interface HeatmapRendererOptions {
  /** 'webgpu' (fails when unavailable), '2d', or 'auto' (WebGPU when an adapter is found, else 2D). Default 'auto'. */
  renderer?: 'auto' | 'webgpu' | '2d';
  /** The WebGPU entry point. Default navigator.gpu. */
  gpu?: GPU;
  /** A device to draw with (for example one the page already has). Default: a new one from `gpu`. */
  device?: GPUDevice;
}

export interface DrawHeatmapOptions {
  /** Default: diverging when the map has both signs, else sequential (as heatmapPng). */
  palette?: HeatmapPalette;
  view?: HeatmapView;
}

export interface HeatmapRenderer {
  readonly kind: 'webgpu' | '2d';
  /** Why this kind: 'requested', or why auto fell back to 2D. */
  readonly reason: string;
  /**
   * Draws a map [H, W] or [C, H, W] (summed over channels) filling `canvas` (square cells, centred), colour
   * scale ±max |v|. A canvas keeps the context of the renderer that drew on it first.
   */
  draw(canvas: HTMLCanvasElement | OffscreenCanvas, map: Tensor, options?: DrawHeatmapOptions): Promise<void>;
  /** Destroys the renderer's own device (not one passed in). */
  dispose(): void;
}

export async function createHeatmapRenderer(options: HeatmapRendererOptions = {}): Promise<HeatmapRenderer> {
  const o = validateOptions('createHeatmapRenderer', options, ['renderer', 'gpu', 'device']);
  const want = choice('createHeatmapRenderer: renderer', o.renderer, ['auto', 'webgpu', '2d'] as const, 'auto');
  if (want === '2d') return renderer2d('requested');
  const gpu = (o.gpu as GPU | undefined) ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  let device = o.device as GPUDevice | undefined;
  const own = !device;
  try {
    if (!device) {
      if (!gpu) fail('BACKEND_UNAVAILABLE', 'navigator.gpu is undefined (no WebGPU in this browser or context)');
      const adapter = await gpu.requestAdapter();
      if (!adapter) fail('BACKEND_UNAVAILABLE', 'navigator.gpu.requestAdapter() found no adapter');
      device = await adapter.requestDevice({ label: 'smoothgeo heatmap device' });
    }
    return rendererWebGPU(
      device,
      gpu,
      own,
      want === 'webgpu' ? 'requested' : own ? 'auto: a WebGPU adapter was found' : 'auto: a WebGPU device was given',
    );
  } catch (e) {
    if (want === 'webgpu' || !(e instanceof SmoothgeoError)) throw e;
    return renderer2d(`auto: no WebGPU (${e.message})`);
  }
}

function checkCanvas(canvas: unknown): void {
  const c = canvas as { getContext?: unknown; width?: unknown; height?: unknown } | null;
  if (c === null || typeof c !== 'object' || typeof c.getContext !== 'function')
    fail(
      'INVALID_ARGUMENT',
      `drawHeatmap: canvas must be an HTMLCanvasElement or OffscreenCanvas, got ${show(canvas)}`,
    );
  if (!(Number(c.width) > 0 && Number(c.height) > 0))
    fail(
      'INVALID_ARGUMENT',
      `drawHeatmap: the canvas is ${show(c.width)}×${show(c.height)} pixels; it must not be empty`,
    );
}

function drawOptions(options: DrawHeatmapOptions): { palette: unknown; view: HeatmapView | undefined } {
  const o = validateOptions('drawHeatmap', options, ['palette', 'view']);
  return { palette: o.palette, view: o.view as HeatmapView | undefined };
}

function renderer2d(reason: string): HeatmapRenderer {
  return {
    kind: '2d',
    reason,
    async draw(canvas, map, options = {}) {
      checkCanvas(canvas);
      const o = drawOptions(options);
      const plane = heatmapPlane('drawHeatmap', map, o.palette);
      drawHeatmap2d(canvas, plane, heatmapView('drawHeatmap', canvas, plane, o.view));
    },
    dispose() {},
  };
}

function rendererWebGPU(device: GPUDevice, gpu: GPU | undefined, own: boolean, reason: string): HeatmapRenderer {
  let lost: string | null = null;
  let disposed = false;
  void device.lost.then((info) => (lost = info.message || info.reason));
  let heatmaps: WebGPUHeatmaps | null = null;
  return {
    kind: 'webgpu',
    reason,
    async draw(canvas, map, options = {}) {
      if (disposed) fail('INVALID_ARGUMENT', 'drawHeatmap: the renderer was disposed');
      // A lost device draws nothing and reports no error: say so instead of leaving a black canvas.
      if (lost !== null) fail('DEVICE_LOST', `drawHeatmap: the WebGPU device was lost (${lost}); make a new renderer`);
      checkCanvas(canvas);
      const o = drawOptions(options);
      const plane = heatmapPlane('drawHeatmap', map, o.palette);
      if (!gpu?.getPreferredCanvasFormat)
        fail('BACKEND_UNAVAILABLE', 'drawHeatmap: no navigator.gpu.getPreferredCanvasFormat() to configure a canvas');
      heatmaps ??= new WebGPUHeatmaps(device, gpu.getPreferredCanvasFormat());
      await heatmaps.drawCanvas(canvas, plane, heatmapView('drawHeatmap', canvas, plane, o.view));
    },
    dispose() {
      disposed = true;
      if (own) device.destroy();
    },
  };
}
