// The heatmap renderers' host side: the view transform (wgpu-matrix) that both renderers place cells with,
// the map validation, and how the renderer is chosen. The pixels themselves are checked in Chromium
// (test/browser/heatmap.test.ts: WebGPU against 2D canvas; test/browser/demo.test.ts: the demo page).
import { describe, expect, it } from 'vitest';
import { vec3, mat4 } from 'wgpu-matrix';
import { createHeatmapRenderer } from '../src/render/heatmap.js';
import { heatmapPlane } from '../src/render/plane.js';
import { heatmapView } from '../src/render/view.js';

const apply = (m: Float32Array, x: number, y: number) => Array.from(vec3.transformMat4([x, y, 0], m)).slice(0, 2);

describe('heatmap view transform', () => {
  it('fits the map with square cells, centred (letterbox), and maps the canvas to clip space', () => {
    // A 7×5 map in a 160×90 canvas: 18 px cells (90 / 5), 126 px wide, 17 px bars left and right.
    const v = heatmapView('t', { width: 160, height: 90 }, { width: 7, height: 5 });
    expect(apply(v.toCanvas, 0, 0)).toEqual([17, 0]);
    expect(apply(v.toCanvas, 7, 5)).toEqual([143, 90]);
    const clip = (x: number, y: number) => apply(v.toClip, x, y).map((c) => Math.round(c * 1e6) / 1e6);
    expect(clip(0, 0)).toEqual([-1 + 34 / 160, 1]); // top left of the map: y up in clip space
    expect(clip(7, 5)).toEqual([1 - 34 / 160, -1]);
  });

  it('zooms about the given cell, which stays where it was', () => {
    const canvas = { width: 140, height: 100 },
      map = { width: 7, height: 5 };
    const plain = heatmapView('t', canvas, map);
    const zoomed = heatmapView('t', canvas, map, { zoom: 2.5, center: [2, 3] });
    expect(apply(zoomed.toCanvas, 2, 3)).toEqual(apply(plain.toCanvas, 2, 3));
    const cell = (m: Float32Array) => apply(m, 1, 0)[0] - apply(m, 0, 0)[0];
    expect(cell(zoomed.toCanvas)).toBeCloseTo(2.5 * cell(plain.toCanvas), 5);
    expect(mat4.determinant(zoomed.toClip)).not.toBe(0);
  });

  it('refuses a bad view, naming the field', () => {
    const c = { width: 10, height: 10 };
    expect(() => heatmapView('draw', c, c, { zoom: 0 })).toThrow(/draw: view.zoom must be > 0/);
    expect(() => heatmapView('draw', c, c, { center: [1] as unknown as [number, number] })).toThrow(
      /view.center must be \[x, y\]/,
    );
  });
});

describe('heatmap plane', () => {
  it('sums channels, takes ±max|v| as the scale and picks the palette by sign, as heatmapPng', () => {
    const p = heatmapPlane('t', { shape: [2, 1, 2], data: Float32Array.from([1, -4, 2, 1]) }, undefined);
    expect(Array.from(p.values)).toEqual([3, -3]);
    expect(p.bound).toBe(3);
    expect(p.palette).toBe('diverging');
    const q = heatmapPlane('t', { shape: [1, 2], data: new Float32Array(2) }, undefined);
    expect(q.bound).toBe(1); // an all-zero map draws black, not NaN
    expect(q.palette).toBe('sequential');
  });

  it('refuses what is not a finite map', () => {
    expect(() => heatmapPlane('draw', { shape: [4], data: new Float32Array(4) }, undefined)).toThrow(
      /draw: map must be a tensor of shape \[H, W\] or \[C, H, W\], got \[4\]/,
    );
    expect(() => heatmapPlane('draw', { shape: [1, 2], data: Float32Array.from([0, NaN]) }, undefined)).toThrow(
      /finite/,
    );
    expect(() => heatmapPlane('draw', { shape: [1, 1], data: new Float32Array(1) }, 'rainbow')).toThrow(
      /draw: palette/,
    );
  });
});

describe('createHeatmapRenderer', () => {
  it('auto falls back to 2D where there is no WebGPU, and says why; webgpu asked by name fails instead', async () => {
    // Node has no navigator.gpu: the library does not reach for Dawn to draw on canvases.
    const r = await createHeatmapRenderer();
    expect(r.kind).toBe('2d');
    expect(r.reason).toMatch(/^auto: no WebGPU \(navigator.gpu is undefined/);
    expect((await createHeatmapRenderer({ renderer: '2d' })).reason).toBe('requested');
    await expect(createHeatmapRenderer({ renderer: 'webgpu' })).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
    });
    await expect(createHeatmapRenderer({ renderer: 'gl' as '2d' })).rejects.toThrow(/renderer/);
    await expect(createHeatmapRenderer({ colours: 1 } as object)).rejects.toThrow(/colours/);
  });

  it('draw refuses what is not a canvas, an empty canvas and a bad map, by name', async () => {
    const r = await createHeatmapRenderer({ renderer: '2d' });
    const map = { shape: [2, 2], data: new Float32Array(4) };
    await expect(r.draw(null as never, map)).rejects.toThrow(/drawHeatmap: canvas must be an HTMLCanvasElement/);
    const empty = { width: 0, height: 10, getContext: () => null } as unknown as OffscreenCanvas;
    await expect(r.draw(empty, map)).rejects.toThrow(/the canvas is 0×10 pixels/);
    const canvas = { width: 10, height: 10, getContext: () => null } as unknown as OffscreenCanvas;
    await expect(r.draw(canvas, { shape: [2], data: new Float32Array(2) })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(r.draw(canvas, map, { view: { zoom: -1 } })).rejects.toThrow(/view.zoom must be > 0/);
    await expect(r.draw(canvas, map)).rejects.toThrow(/this canvas has no 2D context/);
  });
});
