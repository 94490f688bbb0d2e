// The heatmap render pipeline (shaders/heatmap.wgsl) on Dawn in Node, rendering into a texture that is read
// back: every pixel against a float64 reference built from first principles — the pixel centre taken back
// through the inverse of the view matrix to a map cell, that cell's value through src/io/png.ts's ramps,
// black outside the map. (test/browser/heatmap.test.ts checks the same pipeline on a real canvas.)
import { describe, expect, it } from 'vitest';
import { mat4, vec3 } from 'wgpu-matrix';
import { findWebGPU } from '../src/backend/webgpu/device.js';
import { diverging, sequential } from '../src/io/png.js';
import { WebGPUHeatmaps } from '../src/render/heatmap-webgpu.js';
import { heatmapPlane, type HeatmapPlane } from '../src/render/plane.js';
import { heatmapView } from '../src/render/view.js';
import type { HeatmapView } from '../src/render/types.js';

const RENDER_ATTACHMENT = 0x10,
  TEXTURE_COPY_SRC = 0x1,
  BUFFER_COPY_DST = 0x8,
  BUFFER_MAP_READ = 0x1;

/**
 * One device for the file, as the engine tests share one engine. The Dawn instance is kept referenced for
 * as long as the device lives: once it is garbage-collected, Dawn tears the device down under the test.
 */
let gpu: GPU | null = null;
let shared: Promise<GPUDevice> | null = null;
function device(): Promise<GPUDevice> {
  shared ??= (async () => {
    gpu = await findWebGPU();
    const adapter = await gpu.requestAdapter();
    if (!adapter) throw new Error('no WebGPU adapter (run under scripts/gpu-env.mjs)');
    return adapter.requestDevice({ label: 'heatmap test device' });
  })();
  return shared;
}

/** Renders `plane` into a width × height rgba8unorm texture and reads it back (rows padded to 256 bytes: `stride`). */
async function render(dev: GPUDevice, plane: HeatmapPlane, width: number, height: number, view?: HeatmapView) {
  const heatmaps = new WebGPUHeatmaps(dev, 'rgba8unorm');
  const target = dev.createTexture({
    label: 'test heatmap target',
    size: [width, height],
    format: 'rgba8unorm',
    usage: RENDER_ATTACHMENT | TEXTURE_COPY_SRC,
  });
  const stride = Math.ceil((width * 4) / 256) * 256;
  const read = dev.createBuffer({
    label: 'test readback',
    size: stride * height,
    usage: BUFFER_COPY_DST | BUFFER_MAP_READ,
  });
  const matrices = heatmapView('t', { width, height }, plane, view);
  await heatmaps.submit((encoder) => {
    const owned = heatmaps.record(encoder, target.createView(), 'rgba8unorm', plane, matrices);
    encoder.copyTextureToBuffer({ texture: target }, { buffer: read, bytesPerRow: stride }, [width, height]);
    return owned;
  });
  await read.mapAsync(BUFFER_MAP_READ);
  const bytes = new Uint8Array(read.getMappedRange()).slice();
  read.unmap();
  target.destroy();
  read.destroy();
  return { bytes, stride, matrices };
}

interface Case {
  name: string;
  shape: number[];
  values: (i: number) => number;
  width: number;
  height: number;
  view?: HeatmapView;
}

const cases: Case[] = [
  // Cells of 4.8 pixels: edges between pixel centres, never on one.
  {
    name: 'sequential, letterboxed, fractional cells',
    shape: [1, 5, 7],
    values: (i) => (i * 37) % 35,
    width: 40,
    height: 24,
  },
  { name: 'diverging (signed map)', shape: [5, 7], values: (i) => Math.sin(i * 1.3) * (i % 4), width: 70, height: 50 },
  {
    name: 'zoomed about a cell',
    shape: [5, 7],
    values: (i) => i,
    width: 70,
    height: 50,
    view: { zoom: 2.5, center: [2.2, 3.1] },
  },
  { name: 'channels summed', shape: [2, 3, 3], values: (i) => (i % 5) - 1, width: 30, height: 30 },
];

describe('heatmap render pipeline (Dawn)', () => {
  it.each(cases)('$name: every pixel is the colour of the cell under its centre', async (c) => {
    const dev = await device();
    const n = c.shape.reduce((a, b) => a * b, 1);
    const plane = heatmapPlane(
      't',
      { shape: c.shape, data: Float32Array.from({ length: n }, (_, i) => c.values(i)) },
      undefined,
    );
    const { bytes, stride, matrices } = await render(dev, plane, c.width, c.height, c.view);
    const inverse = mat4.inverse(matrices.toCanvas);
    let checked = 0,
      inside = 0;
    for (let y = 0; y < c.height; y++)
      for (let x = 0; x < c.width; x++) {
        const [cx, cy] = vec3.transformMat4([x + 0.5, y + 0.5, 0], inverse);
        // A centre within 1e-3 cell of an edge could round either way: left out.
        const edge = (v: number) => Math.abs(v - Math.round(v)) < 1e-3;
        if (edge(cx) || edge(cy)) continue;
        const cell = cx >= 0 && cx < plane.width && cy >= 0 && cy < plane.height;
        let want: number[] = [0, 0, 0];
        if (cell) {
          const t = plane.values[Math.floor(cy) * plane.width + Math.floor(cx)] / plane.bound;
          want = plane.palette === 'diverging' ? diverging(t) : sequential(Math.abs(t));
          inside++;
        }
        const p = y * stride + x * 4;
        const got = [bytes[p], bytes[p + 1], bytes[p + 2]];
        for (let k = 0; k < 3; k++)
          expect(Math.abs(got[k] - want[k]), `pixel (${x}, ${y}) channel ${k}`).toBeLessThanOrEqual(1);
        expect(bytes[p + 3]).toBe(255);
        checked++;
      }
    expect(checked).toBeGreaterThan(0.9 * c.width * c.height);
    expect(inside).toBeGreaterThan(0.3 * c.width * c.height);
  });

  it('a GPU validation error rejects with GPU_ERROR naming the draw', async () => {
    const dev = await device();
    const heatmaps = new WebGPUHeatmaps(dev, 'rgba8unorm');
    const plane = heatmapPlane('t', { shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) }, undefined);
    // A target without RENDER_ATTACHMENT usage: the render pass is invalid.
    const target = dev.createTexture({ size: [4, 4], format: 'rgba8unorm', usage: TEXTURE_COPY_SRC });
    const matrices = heatmapView('t', { width: 4, height: 4 }, plane);
    await expect(
      heatmaps.submit((encoder) => heatmaps.record(encoder, target.createView(), 'rgba8unorm', plane, matrices)),
    ).rejects.toMatchObject({
      code: 'GPU_ERROR',
      message: expect.stringMatching(/drawHeatmap: the heatmap render pass failed/),
    });
    target.destroy();
  });
});
