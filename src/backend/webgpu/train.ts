import type { AdamHyper, BTensor, GradTerm, SgdHyper, TrainPrimitives } from '../backend.js';
import { shapeStr } from '../../tensor.js';
import { section, type UniformValues } from './shader.js';
import type { Kernel } from './context.js';
import trainSrc from '../../../shaders/train.wgsl';

/**
 * Wiring of shaders/train.wgsl into the WebGPU backend, kept in one function of its own so the backend's
 * structure can change around it: the backend hands in how to record a dispatch, allocate an output, find a
 * tensor's buffer and size a 1-D grid.
 */
export interface TrainWiring {
  run(label: string, shapes: string, body: string, bindings: Kernel['bindings'], uniforms: UniformValues,
    consts: Record<string, number | boolean>, workgroups: [number, number, number]): void;
  alloc(shape: readonly number[], label: string): BTensor;
  buffer(t: BTensor): GPUBuffer;
  grid1d(total: number, size?: number): [number, number, number];
}

const u32 = (value: number) => ({ type: 'u32' as const, value });
const f32 = (value: number) => ({ type: 'f32' as const, value });
const src = (name: string) => section(trainSrc, name, 'train.wgsl');

export function webgpuTrainPrimitives(w: TrainWiring): TrainPrimitives {
  const bind = (name: string, t: BTensor | null, access: 'read' | 'read_write', type: 'f32' | 'i32' = 'f32') => {
    if (t && t.dtype !== type) throw new Error(`binding '${name}' expects ${type} but ${t.label} is ${t.dtype}`);
    return { name, type, access, present: !!t, buffer: t ? w.buffer(t) : null };
  };
  const terms = (param: BTensor, grads: readonly GradTerm[]) => {
    if (grads.length < 1 || grads.length > 2) throw new Error(`optimiser step on ${param.label}: 1 or 2 gradient terms, got ${grads.length}`);
    for (const t of grads) if (t.grad.size !== param.size) throw new Error(`optimiser step on ${param.label}: gradient ${t.grad.label} has ${t.grad.size} values, expected ${param.size}`);
    return {
      bindings: [bind('g1', grads[0].grad, 'read'), bind('g2', grads[1]?.grad ?? null, 'read')],
      uniforms: { s1: f32(grads[0].scale), s2: f32(grads[1]?.scale ?? 0) },
      consts: { TWO_TERMS: grads.length === 2 },
    };
  };
  return {
    sgd(param: BTensor, velocity: BTensor, grads: readonly GradTerm[], h: SgdHyper): void {
      const t = terms(param, grads);
      w.run(`sgd step ${param.label}`, shapeStr(param.shape), src('grad') + src('sgd'),
        [bind('param', param, 'read_write'), bind('state1', velocity, 'read_write'), ...t.bindings],
        { total: u32(param.size), ...t.uniforms, lr: f32(h.lr), momentum: f32(h.momentum), weightDecay: f32(h.weightDecay) },
        { ...t.consts, NESTEROV: h.nesterov }, w.grid1d(param.size));
    },

    adam(param: BTensor, m: BTensor, v: BTensor, grads: readonly GradTerm[], h: AdamHyper): void {
      const t = terms(param, grads);
      w.run(`adam step ${param.label}`, shapeStr(param.shape), src('grad') + src('adam'),
        [bind('param', param, 'read_write'), bind('state1', m, 'read_write'), bind('state2', v, 'read_write'), ...t.bindings],
        {
          total: u32(param.size), ...t.uniforms, lr: f32(h.lr), beta1: f32(h.beta1), beta2: f32(h.beta2), omb1: f32(1 - h.beta1), omb2: f32(1 - h.beta2), eps: f32(h.eps),
          weightDecay: f32(h.weightDecay), bc1: f32(1 - h.beta1 ** h.step), bc2: f32(1 - h.beta2 ** h.step),
        },
        t.consts, w.grid1d(param.size));
    },

    ssrSeeds(z: BTensor, zdot: BTensor, scale: number, ce?: { classes: BTensor; scale: number } | null) {
      const [B, K] = z.shape;
      const g = w.alloc([B, K], 'ssr seed'), gdot = w.alloc([B, K], 'ssr seed tangent'), lambda = w.alloc([B], 'ssr lambda');
      w.run(`ssr seeds${ce ? ' + cross-entropy' : ''}`, shapeStr(z.shape), src('ssr_seeds'),
        [bind('z', z, 'read'), bind('zdot', zdot, 'read'), bind('classes', ce?.classes ?? null, 'read', 'i32'),
          bind('g', g, 'read_write'), bind('gdot', gdot, 'read_write'), bind('lambda', lambda, 'read_write')],
        { B: u32(B), K: u32(K), scale: f32(scale), ceScale: f32(ce?.scale ?? 0) }, { HAS_CE: !!ce }, [Math.ceil(B / 64), 1, 1]);
      return { g, gdot, lambda };
    },

    gatherRows(store: BTensor, index: BTensor, d: number): BTensor {
      const out = w.alloc([index.size, d], 'gathered rows');
      w.run('gather rows', `${shapeStr(store.shape)} at ${index.size} rows`, src('gather_rows'),
        [bind('store', store, 'read'), bind('index', index, 'read', 'i32'), bind('out', out, 'read_write')],
        { total: u32(out.size), d: u32(d) }, {}, w.grid1d(out.size));
      return out;
    },

    scatterRows(store: BTensor, index: BTensor, rows: BTensor, d: number): void {
      w.run('scatter rows', `${shapeStr(rows.shape)} into ${shapeStr(store.shape)}`, src('scatter_rows'),
        [bind('store', store, 'read_write'), bind('index', index, 'read', 'i32'), bind('rows', rows, 'read')],
        { total: u32(rows.size), d: u32(d) }, {}, w.grid1d(rows.size));
    },

    normalizeRows(v: BTensor, rows: number): BTensor {
      const out = w.alloc(v.shape, 'normalized rows');
      w.run('normalize rows', `${shapeStr(v.shape)} as ${rows} rows`, src('normalize_rows'),
        [bind('v', v, 'read'), bind('out', out, 'read_write')], { d: u32(v.size / rows) }, {}, [rows, 1, 1]);
      return out;
    },

    pgdStep(xadv: BTensor, x: BTensor, grad: BTensor, epsilon: number, step: number, lo: number, hi: number): BTensor {
      const out = w.alloc(x.shape, 'pgd iterate');
      w.run('pgd step', shapeStr(x.shape), src('pgd_step'),
        [bind('xadv', xadv, 'read'), bind('x', x, 'read'), bind('grad', grad, 'read'), bind('out', out, 'read_write')],
        { total: u32(x.size), epsilon: f32(epsilon), step: f32(step), lo: f32(lo), hi: f32(hi) }, {}, w.grid1d(x.size));
      return out;
    },

    accumulateMetrics(z: BTensor, classes: BTensor, lambda: BTensor | null, stats: BTensor): void {
      const [B, K] = z.shape;
      w.run('training metrics', shapeStr(z.shape), src('metrics'),
        [bind('z', z, 'read'), bind('classes', classes, 'read', 'i32'), bind('lambda', lambda, 'read'), bind('stats', stats, 'read_write')],
        { B: u32(B), K: u32(K) }, { HAS_LAMBDA: !!lambda }, [1, 1, 1]);
    },
  };
}
