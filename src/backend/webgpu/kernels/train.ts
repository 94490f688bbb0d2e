// The training family (shaders/train.wgsl): optimiser steps in place on a parameter and its state, SSR seeds on
// the logits, row gather/scatter/normalisation for warm-started power iteration, an L∞ PGD step and on-device
// training metrics. The float64 twin is src/backend/cpu-train.ts.
import type { AdamHyper, BTensor, GradTerm, SgdHyper, TrainPrimitives } from '../../backend.js';
import { shapeStr } from '../../../tensor.js';
import type { UniformDecl } from '../program.js';
import { WORKGROUP } from '../prelude.js';
import { bind, opt, type Recorder } from './recorder.js';
import { SOURCES } from './sources.js';

const f32s = (...names: string[]): UniformDecl[] => names.map((name) => ({ name, type: 'f32' }));
const u32s = (...names: string[]): UniformDecl[] => names.map((name) => ({ name, type: 'u32' }));
const rw = (name: string, types: ('f32' | 'i32')[] = ['f32']) => ({ name, access: 'read_write' as const, types });
const ro = (name: string, types: ('f32' | 'i32')[] = ['f32']) => ({ name, access: 'read' as const, types });
const GRADS = [ro('g1'), ro('g2')];

const SGD = SOURCES.program({
  family: 'train',
  sections: ['grad', 'sgd'],
  uniforms: [...u32s('total'), ...f32s('s1', 's2', 'lr', 'momentum', 'weightDecay')],
  bindings: [rw('param'), rw('state1'), ...GRADS],
  consts: ['TWO_TERMS', 'NESTEROV'],
  workgroupSize: WORKGROUP.elementwise,
});
const ADAM = SOURCES.program({
  family: 'train',
  sections: ['grad', 'adam'],
  uniforms: [
    ...u32s('total'),
    ...f32s('s1', 's2', 'lr', 'beta1', 'beta2', 'omb1', 'omb2', 'eps', 'weightDecay', 'bc1', 'bc2'),
  ],
  bindings: [rw('param'), rw('state1'), rw('state2'), ...GRADS],
  consts: ['TWO_TERMS'],
  workgroupSize: WORKGROUP.elementwise,
});
const SSR_SEEDS = SOURCES.program({
  family: 'train',
  sections: ['ssr_seeds'],
  uniforms: [...u32s('B', 'K'), ...f32s('scale', 'ceScale')],
  bindings: [ro('z'), ro('zdot'), ro('classes', ['i32']), rw('g'), rw('gdot'), rw('lambda')],
  consts: ['HAS_CE'],
  workgroupSize: WORKGROUP.row,
});
const GATHER_ROWS = SOURCES.program({
  family: 'train',
  sections: ['gather_rows'],
  uniforms: u32s('total', 'd'),
  bindings: [ro('store'), ro('index', ['i32']), rw('out')],
  consts: [],
  workgroupSize: WORKGROUP.elementwise,
});
const SCATTER_ROWS = SOURCES.program({
  family: 'train',
  sections: ['scatter_rows'],
  uniforms: u32s('total', 'd'),
  bindings: [rw('store'), ro('index', ['i32']), ro('rows')],
  consts: [],
  workgroupSize: WORKGROUP.elementwise,
});
// One workgroup per row: the tree reduction in normalize_rows needs a power-of-two group.
const NORMALIZE_ROWS = SOURCES.program({
  family: 'train',
  sections: ['normalize_rows'],
  uniforms: u32s('d'),
  bindings: [ro('v'), rw('out')],
  consts: [],
  workgroupSize: 64,
});
const PGD_STEP = SOURCES.program({
  family: 'train',
  sections: ['pgd_step'],
  uniforms: [...u32s('total'), ...f32s('epsilon', 'step', 'lo', 'hi')],
  bindings: [ro('xadv'), ro('x'), ro('grad'), rw('out')],
  consts: [],
  workgroupSize: WORKGROUP.elementwise,
});
// A single thread folds the minibatch in a fixed order (deterministic sums).
const METRICS = SOURCES.program({
  family: 'train',
  sections: ['metrics'],
  uniforms: u32s('B', 'K'),
  bindings: [ro('z'), ro('classes', ['i32']), ro('lambda'), rw('stats')],
  consts: ['HAS_LAMBDA'],
  workgroupSize: 1,
});

function terms(param: BTensor, grads: readonly GradTerm[]) {
  if (grads.length < 1 || grads.length > 2) {
    throw new Error(`optimiser step on ${param.label}: 1 or 2 gradient terms, got ${grads.length}`);
  }
  for (const t of grads) {
    if (t.grad.size !== param.size) {
      throw new Error(
        `optimiser step on ${param.label}: gradient ${t.grad.label} has ${t.grad.size} values, expected ${param.size}`,
      );
    }
  }
  return {
    bindings: [bind('g1', grads[0].grad), opt('g2', grads[1]?.grad ?? null)],
    s1: grads[0].scale,
    s2: grads[1]?.scale ?? 0,
    twoTerms: grads.length === 2,
  };
}

export function trainPrimitives(r: Recorder): TrainPrimitives {
  return {
    sgd(param: BTensor, velocity: BTensor, grads: readonly GradTerm[], h: SgdHyper): void {
      const t = terms(param, grads);
      r.run({
        program: SGD,
        label: `sgd step ${param.label}`,
        shapes: shapeStr(param.shape),
        consts: { TWO_TERMS: t.twoTerms, NESTEROV: h.nesterov },
        bindings: [bind('param', param), bind('state1', velocity), ...t.bindings],
        uniforms: { total: param.size, s1: t.s1, s2: t.s2, lr: h.lr, momentum: h.momentum, weightDecay: h.weightDecay },
        workgroups: r.grid1d(param.size, SGD.workgroupSize),
      });
    },

    adam(param: BTensor, m: BTensor, v: BTensor, grads: readonly GradTerm[], h: AdamHyper): void {
      const t = terms(param, grads);
      r.run({
        program: ADAM,
        label: `adam step ${param.label}`,
        shapes: shapeStr(param.shape),
        consts: { TWO_TERMS: t.twoTerms },
        bindings: [bind('param', param), bind('state1', m), bind('state2', v), ...t.bindings],
        uniforms: {
          total: param.size,
          s1: t.s1,
          s2: t.s2,
          lr: h.lr,
          beta1: h.beta1,
          beta2: h.beta2,
          // 1 − β from the host: in float32, 1 − 0.999 loses 1e-5 of its value to the rounding of 0.999.
          omb1: 1 - h.beta1,
          omb2: 1 - h.beta2,
          eps: h.eps,
          weightDecay: h.weightDecay,
          bc1: 1 - h.beta1 ** h.step,
          bc2: 1 - h.beta2 ** h.step,
        },
        workgroups: r.grid1d(param.size, ADAM.workgroupSize),
      });
    },

    ssrSeeds(z: BTensor, zdot: BTensor, scale: number, ce?: { classes: BTensor; scale: number } | null) {
      const [B, K] = z.shape;
      const g = r.alloc([B, K], 'ssr seed');
      const gdot = r.alloc([B, K], 'ssr seed tangent');
      const lambda = r.alloc([B], 'ssr lambda');
      r.run({
        program: SSR_SEEDS,
        label: `ssr seeds${ce ? ' + cross-entropy' : ''}`,
        shapes: shapeStr(z.shape),
        consts: { HAS_CE: !!ce },
        bindings: [
          bind('z', z),
          bind('zdot', zdot),
          ce ? bind('classes', ce.classes, 'i32') : null,
          bind('g', g),
          bind('gdot', gdot),
          bind('lambda', lambda),
        ],
        uniforms: { B, K, scale, ceScale: ce?.scale ?? 0 },
        workgroups: r.grid1d(B, SSR_SEEDS.workgroupSize),
      });
      return { g, gdot, lambda };
    },

    gatherRows(store: BTensor, index: BTensor, d: number): BTensor {
      const out = r.alloc([index.size, d], 'gathered rows');
      r.run({
        program: GATHER_ROWS,
        label: 'gather rows',
        shapes: `${shapeStr(store.shape)} at ${index.size} rows`,
        consts: {},
        bindings: [bind('store', store), bind('index', index, 'i32'), bind('out', out)],
        uniforms: { total: out.size, d },
        workgroups: r.grid1d(out.size, GATHER_ROWS.workgroupSize),
      });
      return out;
    },

    scatterRows(store: BTensor, index: BTensor, rows: BTensor, d: number): void {
      r.run({
        program: SCATTER_ROWS,
        label: 'scatter rows',
        shapes: `${shapeStr(rows.shape)} into ${shapeStr(store.shape)}`,
        consts: {},
        bindings: [bind('store', store), bind('index', index, 'i32'), bind('rows', rows)],
        uniforms: { total: rows.size, d },
        workgroups: r.grid1d(rows.size, SCATTER_ROWS.workgroupSize),
      });
    },

    normalizeRows(v: BTensor, rows: number): BTensor {
      const out = r.alloc(v.shape, 'normalized rows');
      r.run({
        program: NORMALIZE_ROWS,
        label: 'normalize rows',
        shapes: `${shapeStr(v.shape)} as ${rows} rows`,
        consts: {},
        bindings: [bind('v', v), bind('out', out)],
        uniforms: { d: v.size / rows },
        workgroups: [rows, 1, 1],
      });
      return out;
    },

    pgdStep(xadv: BTensor, x: BTensor, grad: BTensor, epsilon: number, step: number, lo: number, hi: number): BTensor {
      const out = r.alloc(x.shape, 'pgd iterate');
      r.run({
        program: PGD_STEP,
        label: 'pgd step',
        shapes: shapeStr(x.shape),
        consts: {},
        bindings: [bind('xadv', xadv), bind('x', x), bind('grad', grad), bind('out', out)],
        uniforms: { total: x.size, epsilon, step, lo, hi },
        workgroups: r.grid1d(x.size, PGD_STEP.workgroupSize),
      });
      return out;
    },

    accumulateMetrics(z: BTensor, classes: BTensor, lambda: BTensor | null, stats: BTensor): void {
      const [B, K] = z.shape;
      r.run({
        program: METRICS,
        label: 'training metrics',
        shapes: shapeStr(z.shape),
        consts: { HAS_LAMBDA: !!lambda },
        bindings: [bind('z', z), bind('classes', classes, 'i32'), opt('lambda', lambda), bind('stats', stats)],
        uniforms: { B, K },
        workgroups: [1, 1, 1],
      });
    },
  };
}
