// The two heatmap renderers in real headless Chromium: the WebGPU render pipeline (on SwiftShader) and the
// 2D-canvas fallback draw the same maps into canvases; a screenshot (the WebGPU canvas is read back as the
// page composites it, not through toDataURL) must show the same colours at the same pixels in both, and
// the WebGPU ones must be real heatmaps (many colours), not a black or blank canvas.
import { fileURLToPath } from 'node:url';
import { decode } from 'fast-png';
import { afterAll, describe, expect, it } from 'vitest';
import { CHROMIUM_RENDER_ARGS, openPage, type BrowserSession } from './harness';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

describe('heatmap renderers in Chromium', () => {
  let session: BrowserSession | undefined;
  afterAll(async () => {
    await session?.close();
  });

  it('WebGPU and 2D canvas draw the same pixels (sequential, diverging, letterboxed, zoomed)', async () => {
    session = await openPage(ROOT, 'test/browser/pages/heatmap.html', CHROMIUM_RENDER_ARGS);
    const { page } = session;
    await page.waitForFunction(() => (window as { __result?: unknown }).__result !== undefined, { timeout: 60_000 });
    const r = (await page.evaluate(() => (window as { __result?: unknown }).__result)) as {
      error?: string;
      kinds: string[];
      cases: Box[][];
    };
    expect(r.error, r.error).toBeUndefined();
    expect(r.kinds).toEqual(['webgpu', '2d']);
    await page.setViewport({ width: 520, height: 260 });
    const shot = decode(await page.screenshot({ type: 'png' }));
    const px = (x: number, y: number) => {
      const p = (y * shot.width + x) * shot.channels;
      return [shot.data[p], shot.data[p + 1], shot.data[p + 2]];
    };
    for (const [gpu, flat] of r.cases) {
      const colours = new Set<string>();
      let worst = 0;
      for (let y = 0; y < gpu.h; y++)
        for (let x = 0; x < gpu.w; x++) {
          const a = px(gpu.x + x, gpu.y + y),
            b = px(flat.x + x, flat.y + y);
          colours.add(a.join());
          worst = Math.max(worst, ...a.map((v, k) => Math.abs(v - b[k])));
        }
      // 8-bit rounding of f32 (GPU) against f64 (2D) colour arithmetic: at most one level apart.
      expect(worst).toBeLessThanOrEqual(1);
      expect(colours.size).toBeGreaterThan(8);
    }
  }, 120_000);
});
