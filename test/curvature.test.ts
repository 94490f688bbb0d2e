import { describe, expect, it } from 'vitest';
import { loadModel, Model } from '../src/graph/model.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import type { Tensor } from '../src/tensor.js';
import { BACKENDS, oracleCases, randomTensor, relL2, rng } from './helpers.js';

const backends = BACKENDS;
const dot = (a: ArrayLike<number>, b: ArrayLike<number>, from = 0, to = a.length) => {
  let s = 0;
  for (let i = from; i < to; i++) s += a[i] * b[i];
  return s;
};

/** Per-example top eigenvalue of a PSD operator by power iteration, run until the Rayleigh quotient settles. */
async function powerTop(apply: (v: Tensor) => Promise<Tensor>, v0: Tensor): Promise<number[]> {
  const [B] = v0.shape,
    d = v0.data.length / B;
  let v = v0,
    lambda = new Array(B).fill(0);
  for (let it = 0; it < 500; it++) {
    const w = await apply(v);
    const next = new Float32Array(w.data.length);
    const rq = lambda.map((_, b) => dot(v.data, w.data, b * d, (b + 1) * d) / dot(v.data, v.data, b * d, (b + 1) * d));
    for (let b = 0; b < B; b++) {
      const n = Math.sqrt(dot(w.data, w.data, b * d, (b + 1) * d));
      for (let i = b * d; i < (b + 1) * d; i++) next[i] = w.data[i] / n;
    }
    const settled = rq.every((l, b) => Math.abs(l - lambda[b]) <= 1e-7 * Math.abs(l));
    lambda = rq;
    v = { shape: v.shape, data: next };
    if (settled) break;
  }
  return lambda;
}

for (const [backend, engine] of backends) {
  describe(`curvature on ${backend}`, () => {
    for (const c of oracleCases()) {
      it(`${c.name}: input HVP is symmetric, uᵀ(Hv) = vᵀ(Hu)`, async () => {
        const model = await loadModel(await engine(), c.json.model, c.bytes, { prefix: 'param.' });
        const x = c.tensors.get('x')!,
          v = c.tensors.get('v')!;
        const u = randomTensor(x.shape, rng(3));
        const ce = { kind: 'crossEntropy' as const, labels: c.json.labels };
        const [hv, hu] = [await model.inputHvp(x, v, ce), await model.inputHvp(x, u, ce)];
        const d = x.data.length / x.shape[0];
        for (let b = 0; b < x.shape[0]; b++) {
          const [a, bb] = [dot(u.data, hv.data, b * d, (b + 1) * d), dot(v.data, hu.data, b * d, (b + 1) * d)];
          // cpu computes in float64 and rounds the result to float32: |uᵀδ| ≤ |u||Hv|·2⁻²⁴ per side. webgpu
          // accumulates in float32 through the network: ~√(terms)·2⁻²⁴ per layer, well under 1e-5.
          const scale = Math.sqrt(dot(u.data, u.data, b * d, (b + 1) * d) * dot(hv.data, hv.data, b * d, (b + 1) * d));
          expect(Math.abs(a - bb) / scale).toBeLessThan(backend === 'cpu' ? 2 * 2 ** -24 : 1e-5);
        }
      });

      it(`${c.name}: top eigenvalue of the Gauss–Newton input Hessian matches gn_lambda_max`, async () => {
        const model = await loadModel(await engine(), c.json.model, c.bytes, { prefix: 'param.' });
        const x = c.tensors.get('x')!;
        const lambda = await powerTop(
          (v) => model.gaussNewtonProduct(x, v, c.json.labels),
          randomTensor(x.shape, rng(11)),
        );
        const want: number[] = c.json.gn_lambda_max;
        lambda.forEach((l, b) => expect(Math.abs(l - want[b]) / want[b]).toBeLessThan(1e-3));
      });
    }

    it('Gauss–Newton product equals Jᵀ A J v with J built explicitly (small MLP)', async () => {
      const r = rng(5);
      const spec = {
        input: [6],
        layers: [{ type: 'dense', name: 'fc1', out: 5 }, { type: 'tanh' }, { type: 'dense', name: 'fc2', out: 4 }],
      };
      const w = {
        'fc1.weight': randomTensor([5, 6], r),
        'fc1.bias': randomTensor([5], r),
        'fc2.weight': randomTensor([4, 5], r),
        'fc2.bias': randomTensor([4], r),
      };
      const model = await loadModel(await engine(), spec, encodeSafetensors(w));
      const B = 3,
        d = 6,
        K = 4;
      const x = randomTensor([B, d], r),
        v = randomTensor([B, d], r),
        labels = [0, 2, 3];
      // Row k of J: the input gradient of logit k (all examples at once).
      const J: Float32Array[] = [];
      for (let k = 0; k < K; k++)
        J.push((await model.inputGradient(x, { kind: 'logit', target: new Array(B).fill(k) })).data);
      const logits = (await model.forward(x)).data;
      const want = new Float32Array(B * d);
      for (let b = 0; b < B; b++) {
        const z = Array.from(logits.subarray(b * K, (b + 1) * K)),
          m = Math.max(...z);
        const e = z.map((zi) => Math.exp(zi - m)),
          s = e.reduce((a, c) => a + c, 0),
          p = e.map((ei) => ei / s);
        const jv = J.map((row) => dot(row, v.data, b * d, (b + 1) * d));
        const pjv = dot(p, jv);
        const ajv = p.map((pk, k) => pk * jv[k] - pk * pjv); // (diag(p) − ppᵀ) J v
        for (let i = 0; i < d; i++) want[b * d + i] = J.reduce((acc, row, k) => acc + row[b * d + i] * ajv[k], 0);
      }
      const got = await model.gaussNewtonProduct(x, v, labels);
      expect(relL2(got.data, want)).toBeLessThan(1e-5);
    });

    it('the input HVP of a model without curvature is exactly zero', async () => {
      const r = rng(9);
      const spec = { input: [5], layers: [{ type: 'dense', name: 'fc', out: 3 }] };
      const model = new Model(
        await engine(),
        (await import('../src/graph/spec.js')).buildGraph(spec),
        new Map([
          ['fc.weight', randomTensor([3, 5], r)],
          ['fc.bias', randomTensor([3], r)],
        ]),
      );
      const hv = await model.inputHvp(randomTensor([2, 5], r), randomTensor([2, 5], r), {
        kind: 'logit',
        target: [0, 1],
      });
      expect(Array.from(hv.data)).toEqual(new Array(10).fill(0));
    });
  });
}
