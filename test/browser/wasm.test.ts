// The wasm backend of the browser bundle in real headless Chromium, against the PyTorch oracle: once on a
// page without cross-origin isolation (no SharedArrayBuffer, so one thread, and describe() says why), once
// served with COOP/COEP headers (cross-origin isolated) from a dedicated worker with two threads.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { oracleCases, relL2 } from '../helpers.js';
import { CHROMIUM_ARGS, openPage, type BrowserSession } from './harness';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)); // serves dist/ and test/fixtures/
const c = oracleCases().find((k) => k.name === 'lenet') ?? oracleCases()[0];
const ISOLATED = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

async function run(query: string, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  session = await openPage(ROOT, `test/browser/pages/wasm.html?case=${c.name}&${query}`, CHROMIUM_ARGS, headers);
  await session.page.waitForFunction(() => (window as { __result?: unknown }).__result !== undefined, {
    timeout: 110_000,
  });
  const r = (await session.page.evaluate(() => (window as { __result?: unknown }).__result)) as Record<string, unknown>;
  expect(r.error, String(r.error)).toBeUndefined();
  console.log(`[browser] ${r.describe}`);
  expect(r.backend).toBe('wasm');
  // README of the oracle: 1e-4 relative L2 in float32.
  for (const k of ['logits', 'grad_logit', 'hvp_logit', 'hvp_ce', 'smoothgrad_given_noise']) {
    expect(relL2(r[k] as number[], c.tensors.get(k)!.data), k).toBeLessThan(1e-4);
  }
  return r;
}

let session: BrowserSession | undefined;
describe(`browser bundle on the wasm backend: oracle ${c.name}`, () => {
  afterEach(async () => {
    await session?.close();
    session = undefined;
  });

  it('without cross-origin isolation: one thread, and describe() says why', async () => {
    const r = await run('threads=2');
    expect(r.crossOriginIsolated).toBe(false);
    expect(r.describe).toMatch(/, 1 thread \(2 asked for; .*cross-origin isolat.*\)/);
  });

  it('cross-origin isolated (COOP/COEP), in a dedicated worker: two threads', async () => {
    const r = await run('threads=2&worker=1', ISOLATED);
    expect(r.crossOriginIsolated).toBe(true);
    expect(r.describe).toMatch(/, 2 threads/);
  });
});
