// The browser bundle in real headless Chromium on navigator.gpu, against the PyTorch oracle: the same
// code path as Node with the GPU object coming from the page, so nothing Node-only creeps into the core.
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { oracleCases, relL2 } from '../helpers.js';
import { openPage, type BrowserSession } from './harness';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)); // serves dist/ and test/fixtures/
const c = oracleCases().find((k) => k.name === 'lenet') ?? oracleCases()[0];

describe(`browser bundle on navigator.gpu: oracle ${c.name}`, () => {
  let session: BrowserSession | undefined;
  afterAll(async () => {
    await session?.close();
  });

  it('logits, gradient, HVPs and given-noise SmoothGrad match the oracle (1e-4)', async () => {
    session = await openPage(ROOT, `test/browser/pages/oracle.html?case=${c.name}`);
    await session.page.waitForFunction(() => (window as { __result?: unknown }).__result !== undefined, {
      timeout: 110_000,
    });
    const r = (await session.page.evaluate(() => (window as { __result?: unknown }).__result)) as Record<
      string,
      unknown
    >;
    expect(r.error, String(r.error)).toBeUndefined();
    console.log(`[browser] ${r.describe}`);
    expect(r.backend).toBe('webgpu');
    for (const k of ['logits', 'grad_logit', 'hvp_logit', 'hvp_ce', 'smoothgrad_given_noise']) {
      expect(relL2(r[k] as number[], c.tensors.get(k)!.data), k).toBeLessThan(1e-4);
    }
  });
});
