import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { smoothGrad } from '../src/attribution/methods.js';
import { hessianEigen } from '../src/curvature/eigen.js';
import type { Engine } from '../src/engine.js';
import type { Model } from '../src/graph/model.js';
import { parseSafetensors } from '../src/io/safetensors.js';
import { loadOnnx } from '../src/io/onnx.js';
import { cpuEngine, relL2, webgpuEngine } from './helpers.js';

/**
 * The ONNX oracle (test/fixtures/onnx, copied from shared/oracle/onnx; its README): models exported by
 * torch.onnx.export with float64 reference values. Tolerances from that README: 1e-4 relative L2 on
 * logits, gradients, HVPs and the given-noise SmoothGrad; 1e-3 relative on the Hessian's extreme eigenvalues.
 */
const DIR = join(import.meta.dirname, 'fixtures', 'onnx');
const TOL = 1e-4;
const backends: [string, () => Promise<Engine>][] = [['cpu', cpuEngine], ['webgpu', webgpuEngine]];

for (const name of ['resnet_small', 'mixed_onnx']) {
  const onnx = new Uint8Array(readFileSync(join(DIR, `${name}.onnx`)));
  const json = JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8'));
  const ref = parseSafetensors(new Uint8Array(readFileSync(join(DIR, `${name}.safetensors`)))).tensors;
  const t = (k: string) => ref.get(k)!;
  const logit = { kind: 'logit' as const, target: json.target as number[] };
  const ce = { kind: 'crossEntropy' as const, labels: json.labels as number[] };
  for (const [backend, engine] of backends) {
    describe(`ONNX ${name} on ${backend}`, () => {
      let model: Model;
      it('loads with the PyTorch parameter names', async () => {
        model = await loadOnnx(await engine(), onnx);
        expect(model.inputShape).toEqual(json.input);
        expect(model.classes).toBe(10);
        expect(Object.keys(model.parameters)).toContain(name === 'resnet_small' ? 'b2.short.1.weight' : 'bn.weight');
        expect(Object.keys(model.parameters)).not.toContain('bn.running_mean');
      });
      it('logits', async () => {
        expect(relL2((await model.forward(t('x'))).data, t('logits').data)).toBeLessThan(TOL);
      });
      it('input gradients and HVPs of the logit and of the cross-entropy', async () => {
        const x = t('x'), v = t('v');
        expect(relL2((await model.inputGradient(x, logit)).data, t('grad_logit').data)).toBeLessThan(TOL);
        expect(relL2((await model.inputGradient(x, ce)).data, t('grad_ce').data)).toBeLessThan(TOL);
        expect(relL2((await model.inputHvp(x, v, logit)).data, t('hvp_logit').data)).toBeLessThan(TOL);
        expect(relL2((await model.inputHvp(x, v, ce)).data, t('hvp_ce').data)).toBeLessThan(TOL);
      });
      it('SmoothGrad with the given noise', async () => {
        const r = await smoothGrad(model, t('x'), { target: json.target, noise: t('sg_noise') });
        expect(relL2(r.attributions.data, t('smoothgrad_given_noise').data)).toBeLessThan(TOL);
      });
      it('λ_max and λ_min of the cross-entropy input Hessian by Lanczos within 1e-3', async () => {
        const hi = await hessianEigen(model, t('x'), ce, { which: 'largest', seed: 1 });
        const lo = await hessianEigen(model, t('x'), ce, { which: 'smallest', seed: 1 });
        (json.hessian_ce as { lambda_max: number; lambda_min: number }[]).forEach((w, b) => {
          expect(Math.abs(hi.values[b][0] - w.lambda_max) / Math.abs(w.lambda_max)).toBeLessThan(1e-3);
          expect(Math.abs(lo.values[b][0] - w.lambda_min) / Math.abs(w.lambda_min)).toBeLessThan(1e-3);
        });
      });
    });
  }
}
