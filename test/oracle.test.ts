import { describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../src/graph/model.js';
import { BACKENDS, oracleCases, relL2 } from './helpers.js';

// README of the oracle: logits, gradients, HVPs within 1e-4 relative L2 error in float32.
const TOL = 1e-4;

for (const c of oracleCases()) {
  for (const [backend, engine] of BACKENDS) {
    describe(`oracle ${c.name} on ${backend}`, () => {
      const t = (k: string) => {
        const v = c.tensors.get(k);
        if (!v) throw new Error(`oracle ${c.name} lacks tensor ${k}`);
        return v;
      };
      let model: Model;
      const x = t('x'),
        v = t('v');
      const logit = { kind: 'logit' as const, target: c.json.target };
      const ce = { kind: 'crossEntropy' as const, labels: c.json.labels };

      it('loads', async () => {
        model = await loadModel(await engine(), c.json.model, c.bytes, { prefix: 'param.' });
        expect(model.classes).toBe(10);
      });
      it('logits', async () => {
        expect(relL2((await model.forward(x)).data, t('logits').data)).toBeLessThan(TOL);
      });
      it('input gradients of the logit and of the cross-entropy', async () => {
        expect(relL2((await model.inputGradient(x, logit)).data, t('grad_logit').data)).toBeLessThan(TOL);
        expect(relL2((await model.inputGradient(x, ce)).data, t('grad_ce').data)).toBeLessThan(TOL);
      });
      it('input HVPs of the logit and of the cross-entropy', async () => {
        expect(relL2((await model.inputHvp(x, v, logit)).data, t('hvp_logit').data)).toBeLessThan(TOL);
        expect(relL2((await model.inputHvp(x, v, ce)).data, t('hvp_ce').data)).toBeLessThan(TOL);
      });
      it('parameter gradients of the batch-mean cross-entropy', async () => {
        const g = await model.paramGradient(x, ce);
        const names = Object.keys(model.parameters);
        expect(names.length).toBeGreaterThan(0);
        for (const n of names) expect(relL2(g[n].data, t(`pgrad_ce.${n}`).data), n).toBeLessThan(TOL);
      });
      it('parameter HVPs of the batch-mean cross-entropy', async () => {
        const names = Object.keys(model.parameters);
        const dir = Object.fromEntries(names.map((n) => [n, t(`pv.${n}`)]));
        const hv = await model.paramHvp(x, dir, ce);
        for (const n of names) expect(relL2(hv[n].data, t(`phvp_ce.${n}`).data), n).toBeLessThan(TOL);
      });
    });
  }
}
