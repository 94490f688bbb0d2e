// Smoke test for the browser harness: real headless Chromium, real navigator.gpu (SwiftShader on machines
// without a GPU). A missing adapter fails the test, in CI and locally alike: GPU tests are never skipped.
import { fileURLToPath } from 'node:url';
import { describe, it, expect, afterAll } from 'vitest';
import { openPage, type BrowserSession } from './harness';

interface SmokeResult {
  adapter: {
    vendor: string;
    architecture: string;
    device: string;
    description: string;
    isFallbackAdapter: boolean;
  } | null;
  inputs?: number[];
  values?: number[];
  error?: string;
}
declare global {
  interface Window {
    __result?: SmokeResult;
  }
}

const PAGES = fileURLToPath(new URL('./pages', import.meta.url));

describe('WebGPU in headless Chromium', () => {
  let session: BrowserSession | undefined;
  afterAll(async () => {
    await session?.close();
  });

  it('runs a compute shader (y = 3x + 1 over 1000 floats) and reads back exact values', async () => {
    const t0 = performance.now();
    session = await openPage(PAGES, 'smoke.html');
    const launched = performance.now();
    await session.page.waitForFunction(() => window.__result !== undefined, { timeout: 60_000 });
    const result = (await session.page.evaluate(() => window.__result)) as SmokeResult;
    const done = performance.now();
    console.log(`[smoke] adapter.info: ${JSON.stringify(result.adapter)}`);
    console.log(
      `[smoke] browser launch + page load ${(launched - t0).toFixed(0)} ms, GPU work ${(done - launched).toFixed(0)} ms`,
    );

    if (!result.adapter) {
      throw new Error(
        `No WebGPU adapter in Chromium (${result.error}). GPU tests are never skipped: check the Chromium flags in test/browser/harness.ts and that SwiftShader (/usr/lib/chromium/libvk_swiftshader.so) is installed.`,
      );
    }
    expect(result.error).toBeUndefined();
    expect(result.values).toHaveLength(1000);
    const expected = result.inputs!.map((x) => Math.fround(3 * x + 1));
    expect(result.inputs![0]).toBe(-125); // the page's inputs are (i - 500) / 4
    expect(result.values).toEqual(expected); // exact: every value is representable in f32
  });
});
