// The wasm backend's training primitives (kernels/train.ts): the float32 twins of src/backend/cpu-train.ts.
import type { AdamHyper, BTensor, GradTerm, SgdHyper, TrainPrimitives } from '../backend.js';
import { off, type WasmBackend } from './wasm.js';

/** The one or two gradient terms as (offset, scale) pairs, the second (0, 0) when absent. */
function terms(param: BTensor, grads: readonly GradTerm[]): [number, number, number, number] {
  if (grads.length < 1 || grads.length > 2)
    throw new Error(`optimiser step on ${param.label}: 1 or 2 gradient terms, got ${grads.length}`);
  for (const t of grads)
    if (t.grad.size !== param.size)
      throw new Error(
        `optimiser step on ${param.label}: gradient ${t.grad.label} has ${t.grad.size} values, expected ${param.size}`,
      );
  const [a, b] = grads;
  return [off(a.grad), a.scale, b ? off(b.grad) : 0, b ? b.scale : 0];
}

function sameSize(what: string, t: BTensor, size: number): void {
  if (t.size !== size) throw new Error(`${what}: ${t.label} has ${t.size} values, expected ${size}`);
}

export function wasmTrainPrimitives(be: WasmBackend): TrainPrimitives {
  return {
    sgd(param: BTensor, velocity: BTensor, grads: readonly GradTerm[], h: SgdHyper): void {
      sameSize('sgd', velocity, param.size);
      be.k.sgd(
        off(param),
        off(velocity),
        ...terms(param, grads),
        param.size,
        h.lr,
        h.momentum,
        h.weightDecay,
        h.nesterov ? 1 : 0,
      );
    },

    adam(param: BTensor, m: BTensor, v: BTensor, grads: readonly GradTerm[], h: AdamHyper): void {
      sameSize('adam', m, param.size);
      sameSize('adam', v, param.size);
      // 1 − β and the bias corrections in float64 on the host, as the cpu twin computes them.
      const bc1 = 1 - h.beta1 ** h.step,
        bc2 = 1 - h.beta2 ** h.step;
      be.k.adam(
        off(param),
        off(m),
        off(v),
        ...terms(param, grads),
        param.size,
        h.lr,
        h.beta1,
        h.beta2,
        1 - h.beta1,
        1 - h.beta2,
        h.eps,
        h.weightDecay,
        bc1,
        bc2,
      );
    },

    ssrSeeds(z: BTensor, zdot: BTensor, scale: number, ce?: { classes: BTensor; scale: number } | null) {
      const [B, K] = z.shape;
      sameSize('ssrSeeds', zdot, z.size);
      const g = be.alloc([B, K], 'ssr seed', 'f32', false),
        gdot = be.alloc([B, K], 'ssr seed tangent', 'f32', false),
        lambda = be.alloc([B], 'ssr lambda', 'f32', false);
      be.withWorkspace(8 * K, 'ssrSeeds', (ws) =>
        be.k.ssrSeeds(
          off(z),
          off(zdot),
          B,
          K,
          scale,
          off(ce?.classes, 'i32'),
          ce?.scale ?? 0,
          g.offset,
          gdot.offset,
          lambda.offset,
          ws,
        ),
      );
      return { g, gdot, lambda };
    },

    gatherRows(store: BTensor, index: BTensor, d: number): BTensor {
      const out = be.alloc([index.size, d], 'gathered rows', 'f32', false);
      be.k.gatherRows(off(store), off(index, 'i32'), out.offset, index.size, d);
      return out;
    },

    scatterRows(store: BTensor, index: BTensor, rows: BTensor, d: number): void {
      sameSize('scatterRows', rows, index.size * d);
      be.k.scatterRows(off(store), off(index, 'i32'), off(rows), index.size, d);
    },

    normalizeRows(v: BTensor, rows: number): BTensor {
      const out = be.alloc(v.shape, 'normalized rows', 'f32', false);
      be.k.normalizeRows(off(v), out.offset, rows, v.size / rows);
      return out;
    },

    pgdStep(xadv: BTensor, x: BTensor, grad: BTensor, epsilon: number, step: number, lo: number, hi: number): BTensor {
      sameSize('pgdStep', xadv, x.size);
      sameSize('pgdStep', grad, x.size);
      const out = be.alloc(x.shape, 'pgd iterate', 'f32', false);
      be.k.pgdStep(off(xadv), off(x), off(grad), out.offset, x.size, epsilon, step, lo, hi);
      return out;
    },

    accumulateMetrics(z: BTensor, classes: BTensor, lambda: BTensor | null, stats: BTensor): void {
      const [B, K] = z.shape;
      be.k.accumulateMetrics(off(z), off(classes, 'i32'), off(lambda), B, K, off(stats));
    },
  };
}
