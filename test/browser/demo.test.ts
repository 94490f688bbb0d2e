// The demo page (examples/web) as `npm run demo` serves it, in headless Chromium: on WebGPU (SwiftShader),
// where the heatmaps are drawn by the WebGPU render pipeline, and on the wasm backend, where they are drawn
// on 2D canvases. Each run: the page loads, computes on the backend asked for, sets data-ready, shows no
// error, says which renderer draws, and its screenshot has real heatmaps (pixels read back from the
// screenshot: a WebGPU canvas is not readable through toDataURL). The WebGPU screenshot goes to
// out/demo.png, and to docs/demo.png (the README's) with SMOOTHGEO_UPDATE_SCREENSHOT=1.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode } from 'fast-png';
import puppeteer from 'puppeteer-core';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { startDemoServer } from '../../scripts/demo-server.mjs';
import { CHROMIUM_PATH, CHROMIUM_RENDER_ARGS } from './harness';

const ROOT = join(import.meta.dirname, '..', '..');

describe('demo page', () => {
  it.each([
    { backend: 'webgpu', renderer: 'webgpu' },
    { backend: 'wasm', renderer: '2d' },
  ])(
    'explains a test digit on $backend and draws four non-blank heatmaps ($renderer)',
    async (want) => {
      const { server, url } = (await startDemoServer(0)) as { server: import('node:http').Server; url: string };
      const browser = await puppeteer.launch({
        executablePath: CHROMIUM_PATH,
        headless: true,
        args: CHROMIUM_RENDER_ARGS,
      });
      try {
        const page = await browser.newPage();
        await page.setViewport({ width: 980, height: 520 });
        page.on('console', (m) => console.log(`[demo] ${m.type()}: ${m.text()}`));
        const res = await page.goto(`${url}?backend=${want.backend}`);
        expect(res?.headers()['cross-origin-embedder-policy']).toBe('require-corp');
        await page.waitForFunction(() => document.body.dataset.ready === '1' || document.body.dataset.error === '1', {
          timeout: 110_000,
        });
        const error = await page.$eval('#error', (e) => ((e as HTMLElement).hidden ? '' : e.textContent));
        expect(error).toBe('');
        expect(await page.evaluate(() => document.body.dataset.backend)).toBe(want.backend);
        expect(await page.evaluate(() => document.body.dataset.renderer)).toBe(want.renderer);
        expect(await page.$eval('#renderer', (e) => e.textContent)).toMatch(
          want.renderer === 'webgpu' ? /WebGPU render pipeline/ : /2D canvases/,
        );
        const png = await page.screenshot({ type: 'png' });
        if (want.renderer === 'webgpu') {
          mkdirSync(join(ROOT, 'out'), { recursive: true });
          writeFileSync(join(ROOT, 'out', 'demo.png'), png);
          if (process.env.SMOOTHGEO_UPDATE_SCREENSHOT === '1') writeFileSync(join(ROOT, 'docs', 'demo.png'), png);
        }
        const shot = decode(png);
        const boxes = await page.$$eval('canvas.map', (cs) =>
          cs.map((c) => {
            const r = c.getBoundingClientRect();
            return { x: Math.round(r.x), y: Math.round(r.y), w: Math.round(r.width), h: Math.round(r.height) };
          }),
        );
        expect(boxes).toHaveLength(4);
        for (const b of boxes) {
          // A heatmap: many distinct colours, some of them bright (a blank or all-black canvas has one).
          const colours = new Set<number>();
          let bright = 0;
          for (let y = b.y + 2; y < b.y + b.h - 2; y++)
            for (let x = b.x + 2; x < b.x + b.w - 2; x++) {
              const p = (y * shot.width + x) * shot.channels;
              const [r, g, bl] = [shot.data[p], shot.data[p + 1], shot.data[p + 2]];
              colours.add((r << 16) | (g << 8) | bl);
              if (r > 200) bright++;
            }
          expect(colours.size).toBeGreaterThan(20);
          expect(bright).toBeGreaterThan(50);
        }
        if (want.backend === 'wasm') {
          // The live attack (on wasm, the quicker one here). Every text the metrics line gets is recorded in the
          // page (a MutationObserver), and the line is polled from here while the attack runs: a page that did
          // not yield between iterations would answer only once the attack is over. At the end: the final
          // metrics, intersection below 1.
          await page.evaluate(() => {
            const seen: string[] = [];
            (window as unknown as { metricsSeen: string[] }).metricsSeen = seen;
            new MutationObserver((records) => {
              for (const r of records) for (const n of r.addedNodes) seen.push(n.textContent ?? '');
            }).observe(document.getElementById('metrics')!, { childList: true });
          });
          await page.click('#attack');
          const LIVE = /iteration \d+ of 10 .*: (top-78 intersection [\d.]+, Kendall τ -?[\d.]+)/;
          let polledLive = 0;
          const deadline = Date.now() + 110_000;
          for (;;) {
            const [text, error] = await page.evaluate(() => [
              document.getElementById('metrics')!.textContent ?? '',
              document.body.dataset.error === '1',
            ]);
            if (error || /10 steps/.test(String(text)) || Date.now() > deadline) break;
            if (LIVE.test(String(text))) polledLive++;
            await new Promise((r) => setTimeout(r, 5));
          }
          const seen = await page.evaluate(() => (window as unknown as { metricsSeen: string[] }).metricsSeen);
          console.log(`[demo] polled ${polledLive} live texts; metrics shown: ${seen.join(' | ')}`);
          expect(polledLive).toBeGreaterThanOrEqual(1); // the page answered while the attack ran
          const live = seen.map((t) => LIVE.exec(t)?.[1]).filter((m) => m !== undefined);
          // The metrics moved during the attack, not only the iteration count: at least two changes.
          expect(live.filter((m, i) => i > 0 && m !== live[i - 1]).length).toBeGreaterThanOrEqual(2);
          expect(await page.$eval('#error', (e) => ((e as HTMLElement).hidden ? '' : e.textContent))).toBe('');
          const metrics = await page.$eval('#metrics', (e) => e.textContent ?? '');
          const k = Number(/top-78 intersection ([\d.]+)/.exec(metrics)?.[1]);
          expect(k).toBeGreaterThanOrEqual(0);
          expect(k).toBeLessThan(1);
          expect(metrics).toMatch(/Kendall τ -?[\d.]+/);
        }
      } finally {
        await browser.close().catch(() => {});
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    },
    180_000,
  );
});
