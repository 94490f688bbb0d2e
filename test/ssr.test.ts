import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../src/graph/model.js';
import { ssrCurvature, recordPowerIteration, recordSsrGradient, ssrStartVectors } from '../src/train/ssr.js';
import { canReusePrimal, sweep, type PrimalCache } from '../src/graph/sweep.js';
import { BACKENDS, cpuEngine, oracleCases, relL2 } from './helpers.js';

// Oracle README / issue 11: gn_lambda_max within 1e-4 relative once converged; ssrgrad.* within 1e-3 relative L2.
const LAMBDA_TOL = 1e-4;
const GRAD_TOL = 1e-3;

const backends = BACKENDS; // cpu, webgpu and wasm

for (const c of oracleCases()) {
  for (const [backend, engine] of backends) {
    describe(`ssrCurvature, oracle ${c.name} on ${backend}`, () => {
      const t = (k: string) => {
        const v = c.tensors.get(k);
        if (!v) throw new Error(`oracle ${c.name} lacks tensor ${k}`);
        return v;
      };
      let model: Model;
      const x = t('x');
      const labels: number[] = c.json.labels;
      beforeAll(async () => {
        model = await loadModel(await engine(), c.json.model, c.bytes, { prefix: 'param.' });
      });

      it('λ_max and its parameter gradient match PyTorch', async () => {
        const r = await ssrCurvature(model, x, { labels, seed: 7, tol: 1e-5 });
        expect(r.converged).toBe(true);
        const want: number[] = c.json.gn_lambda_max;
        r.lambdaMax.forEach((l, b) => expect(Math.abs(l - want[b]) / want[b], `example ${b}`).toBeLessThan(LAMBDA_TOL));
        for (const n of Object.keys(model.parameters)) {
          expect(relL2(r.gradient[n].data, t(`ssrgrad.${n}`).data), n).toBeLessThan(GRAD_TOL);
        }
      });

      it("the paper's closed form (C×C eigenproblem of per-class input gradients) agrees", async () => {
        // λ_max(Jᵀ A J) = λ_max(A^½ J Jᵀ A^½): build J from one logit gradient per class, then a C×C problem.
        const B = x.shape[0],
          C = model.classes,
          d = x.data.length / B;
        const logits = (await model.forward(x)).data;
        const closed: number[] = [];
        const J: Float32Array[] = [];
        for (let k = 0; k < C; k++)
          J.push((await model.inputGradient(x, { kind: 'logit', target: Array(B).fill(k) })).data);
        for (let b = 0; b < B; b++) {
          const z = Array.from(logits.subarray(b * C, (b + 1) * C));
          const mx = Math.max(...z),
            e = z.map((v) => Math.exp(v - mx)),
            s = e.reduce((a, v) => a + v, 0),
            p = e.map((v) => v / s);
          const JJ = Array.from({ length: C }, (_, i) =>
            Array.from({ length: C }, (_, j) => {
              let acc = 0;
              for (let q = 0; q < d; q++) acc += J[i][b * d + q] * J[j][b * d + q];
              return acc;
            }),
          );
          // M = A JJᵀ has the eigenvalues of A^½ JJᵀ A^½; power iteration on the PSD-similar M (its top one is λ_max).
          const A = (i: number, j: number) => (i === j ? p[i] : 0) - p[i] * p[j];
          const M = Array.from({ length: C }, (_, i) =>
            Array.from({ length: C }, (_, j) => {
              let acc = 0;
              for (let k = 0; k < C; k++) acc += A(i, k) * JJ[k][j];
              return acc;
            }),
          );
          let v = Array.from({ length: C }, (_, i) => 1 + i / C),
            lam = 0;
          for (let it = 0; it < 5000; it++) {
            const mv = M.map((row) => row.reduce((a, m, j) => a + m * v[j], 0));
            const nrm = Math.hypot(...mv);
            lam = mv.reduce((a, m, j) => a + m * v[j], 0) / v.reduce((a, q) => a + q * q, 0);
            v = mv.map((m) => m / nrm);
          }
          closed.push(lam);
        }
        const want: number[] = c.json.ssr_closed_form_chmean;
        closed.forEach((l, b) =>
          expect(Math.abs(l - want[b]) / want[b], `closed form example ${b}`).toBeLessThan(LAMBDA_TOL),
        );
        const r = await ssrCurvature(model, x, { labels, seed: 3, tol: 1e-5 });
        r.lambdaMax.forEach((l, b) =>
          expect(Math.abs(l - closed[b]) / closed[b], `example ${b}`).toBeLessThan(LAMBDA_TOL),
        );
      });

      it('the on-device power iteration of training reaches the same λ and gradient', async () => {
        const B = x.shape[0],
          d = x.data.length / B;
        const names = Object.keys(model.parameters);
        const out = await model.withDevice(async (be, params) => {
          const xs = be.upload(x.data, x.shape, 'x'),
            cls = be.uploadIndices(labels, [B], 'labels');
          const w0 = be.upload(ssrStartVectors(5, [0, 1].slice(0, B), 0, d), x.shape, 'w0');
          const w = recordPowerIteration(be, model.graph, params, xs, cls, w0, 200);
          const r = recordSsrGradient(be, model.graph, params, xs, w, 1 / B);
          const data = await be.read([r.lambda, ...names.map((n) => r.grads.get(n)!)]);
          r.release();
          be.release(xs, cls, w0, w);
          return data;
        });
        const want: number[] = c.json.gn_lambda_max;
        Array.from(out[0]).forEach((l, b) => expect(Math.abs(l - want[b]) / want[b]).toBeLessThan(LAMBDA_TOL));
        names.forEach((n, i) => expect(relL2(out[i + 1], t(`ssrgrad.${n}`).data), n).toBeLessThan(GRAD_TOL));
      });

      it("training's SSR step computes the forward of x once: the same λ, logits and gradient, bit for bit", async () => {
        expect(canReusePrimal(model.graph)).toBe(true);
        const B = x.shape[0],
          d = x.data.length / B;
        const names = Object.keys(model.parameters);
        const run = (reuse: boolean) =>
          model.withDevice(async (be, params) => {
            const xs = be.upload(x.data, x.shape, 'x'),
              cls = be.uploadIndices(labels, [B], 'labels');
            const w0 = be.upload(ssrStartVectors(5, [0, 1].slice(0, B), 0, d), x.shape, 'w0');
            const shared: { primal: PrimalCache | null } | null = reuse ? { primal: null } : null;
            const w = recordPowerIteration(be, model.graph, params, xs, cls, w0, 3, shared);
            const kept = !!shared?.primal;
            const r = recordSsrGradient(
              be,
              model.graph,
              params,
              xs,
              w,
              0.5,
              { classes: cls, scale: 0.25 },
              shared?.primal ?? null,
            );
            const data = await be.read([r.lambda, r.logits, w, ...names.map((n) => r.grads.get(n)!)]);
            r.release();
            shared?.primal?.release();
            be.release(xs, cls, w0, w);
            return { data, kept };
          });
        const once = await run(true),
          twice = await run(false);
        expect(once.kept).toBe(true);
        expect(twice.kept).toBe(false);
        once.data.forEach((a, i) =>
          expect(Buffer.from(a.buffer).equals(Buffer.from(twice.data[i].buffer)), `output ${i}`).toBe(true),
        );
      });

      it("SSR's sweep asks for the gradients' tangents only: the same tangents, bit for bit, and no primal gradients", async () => {
        const B = x.shape[0],
          d = x.data.length / B;
        const names = Object.keys(model.parameters);
        const out = await model.withDevice(async (be, params) => {
          const xs = be.upload(x.data, x.shape, 'x'),
            cls = be.uploadIndices(labels, [B], 'labels');
          const w = be.train.normalizeRows(be.upload(ssrStartVectors(5, [0, 1].slice(0, B), 0, d), x.shape, 'w0'), B);
          const run = (paramGrads: true | 'tangents') =>
            sweep(be, model.graph, {
              x: xs,
              xdot: w,
              params,
              paramGrads,
              logitSeed: (z, zdot) => {
                const sd = be.train.ssrSeeds(z, zdot!, 0.5, { classes: cls, scale: 0.25 });
                be.release(sd.lambda);
                return { g: sd.g, gdot: sd.gdot };
              },
            });
          const full = run(true),
            only = run('tangents');
          const primal = names.map((n) => only.paramGrads.get(n)!.grad);
          const data = await be.read([
            ...names.map((n) => full.paramGrads.get(n)!.gradDot!),
            ...names.map((n) => only.paramGrads.get(n)!.gradDot!),
          ]);
          full.release();
          only.release();
          be.release(xs, cls, w);
          return { data, primal };
        });
        expect(out.primal.every((g) => g === null)).toBe(true);
        names.forEach((n, i) =>
          expect(Buffer.from(out.data[names.length + i].buffer).equals(Buffer.from(out.data[i].buffer)), n).toBe(true),
        );
      });

      it('with the cross-entropy seed on the tangent stream, one sweep gives (1 − α)·∂CE/∂θ + α·s·∂λ/∂θ', async () => {
        const B = x.shape[0],
          d = x.data.length / B,
          alpha = 0.3,
          s = 2;
        const names = Object.keys(model.parameters);
        const out = await model.withDevice(async (be, params) => {
          const xs = be.upload(x.data, x.shape, 'x'),
            cls = be.uploadIndices(labels, [B], 'labels');
          const w0 = be.upload(ssrStartVectors(5, [0, 1].slice(0, B), 0, d), x.shape, 'w0');
          const w = recordPowerIteration(be, model.graph, params, xs, cls, w0, 200);
          const r = recordSsrGradient(be, model.graph, params, xs, w, (alpha * s) / B, {
            classes: cls,
            scale: (1 - alpha) / B,
          });
          const data = await be.read(names.map((n) => r.grads.get(n)!));
          r.release();
          be.release(xs, cls, w0, w);
          return data;
        });
        names.forEach((n, i) => {
          const ce = t(`pgrad_ce.${n}`).data,
            ssr = t(`ssrgrad.${n}`).data;
          expect(
            relL2(
              out[i],
              Array.from(ce, (v, j) => (1 - alpha) * v + alpha * s * ssr[j]),
            ),
            n,
          ).toBeLessThan(GRAD_TOL);
        });
      });
    });
  }
}

describe('ssrCurvature against finite differences (cpu, float64)', () => {
  // LeNet's max pooling switches winners under a finite step of conv1, a kink the derivative does not see:
  // there the direction leaves conv1 alone (the pooled argmax stays put); the MLP is perturbed everywhere.
  for (const [name, frozen] of [
    ['mlp', []],
    ['lenet', ['conv1.weight', 'conv1.bias']],
  ] as const) {
    it(`${name}: ⟨∂ mean λ/∂θ, u⟩ equals the central difference of mean λ along a random direction u`, async () => {
      const c = oracleCases().find((k) => k.name === name)!;
      const model = await loadModel(await cpuEngine(), c.json.model, c.bytes, { prefix: 'param.' });
      const x = c.tensors.get('x')!,
        labels: number[] = c.json.labels;
      const base = model.getWeights();
      const opts = { labels, seed: 1, tol: 1e-6, iterations: 2000 };
      const r = await ssrCurvature(model, x, opts);
      let s = 12345;
      const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
      const u = Object.fromEntries(
        Object.entries(base).map(([k, t]) => [
          k,
          Float32Array.from(t.data, () => ((frozen as readonly string[]).includes(k) ? 0 : rand())),
        ]),
      );
      let analytic = 0;
      for (const k of Object.keys(u)) for (let i = 0; i < u[k].length; i++) analytic += r.gradient[k].data[i] * u[k][i];
      const h = 1e-3;
      const meanAt = async (sign: number) => {
        model.setWeights(
          Object.fromEntries(
            Object.entries(base).map(([k, t]) => [
              k,
              { shape: t.shape, data: Float32Array.from(t.data, (v, i) => v + sign * h * u[k][i]) },
            ]),
          ),
        );
        const q = await ssrCurvature(model, x, opts);
        return q.lambdaMax.reduce((a, v) => a + v, 0) / q.lambdaMax.length;
      };
      const fd = ((await meanAt(1)) - (await meanAt(-1))) / (2 * h);
      model.setWeights(base);
      // O(h²) truncation plus float32 rounding of the weights and of λ (~1e-7 relative, over 2h = 2e-3).
      expect(Math.abs(fd - analytic) / Math.abs(analytic)).toBeLessThan(2e-3);
    });
  }
});
