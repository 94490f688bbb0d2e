// The pooling family (shaders/pool.wgsl): max pooling with its argmax, its gather (the tangent) and scatter-free
// backward, average pooling and its backward, all with padding (PyTorch semantics). One thread per output
// (forward) or per input (backward).
import type { BTensor, PoolGeom } from '../../backend.js';
import { shapeStr } from '../../../tensor.js';
import { WORKGROUP } from '../prelude.js';
import type { Bound, BindingDecl, Program } from '../program.js';
import { bind, type Recorder } from './recorder.js';
import { SOURCES } from './sources.js';

const GEOMETRY = ['total', 'h', 'w', 'kh', 'kw', 'sh', 'sw', 'ph', 'pw', 'oh', 'ow'].map((name) => ({
  name,
  type: 'u32' as const,
}));
const f32In = (name: string): BindingDecl => ({ name, access: 'read', types: ['f32'] });
const i32In = (name: string): BindingDecl => ({ name, access: 'read', types: ['i32'] });
const f32Out = (name: string): BindingDecl => ({ name, access: 'read_write', types: ['f32'] });
const pool = (entry: string, bindings: BindingDecl[]): Program =>
  SOURCES.program({
    family: 'pool',
    sections: ['common', entry],
    uniforms: GEOMETRY,
    bindings,
    // COUNT_PAD: whether average pooling's divisor counts padded cells (PyTorch's count_include_pad).
    consts: ['COUNT_PAD'],
    workgroupSize: WORKGROUP.elementwise,
  });
/** What each program is called in labels (GPU objects, errors, profiles). */
const LABELS = new Map<Program, string>();

const MAX_FORWARD = pool('max_forward', [
  f32In('x'),
  f32Out('y'),
  { name: 'argmax', access: 'read_write', types: ['i32'] },
]);
const MAX_BACKWARD = pool('max_backward', [f32In('gy'), i32In('argmax'), f32Out('gx')]);
const AVG_FORWARD = pool('avg_forward', [f32In('x'), f32Out('y')]);
const AVG_BACKWARD = pool('avg_backward', [f32In('gy'), f32Out('gx')]);
LABELS.set(MAX_FORWARD, 'maxpool forward')
  .set(MAX_BACKWARD, 'maxpool backward')
  .set(AVG_FORWARD, 'avgpool forward')
  .set(AVG_BACKWARD, 'avgpool backward');
const GATHER = SOURCES.program({
  family: 'pool',
  sections: ['gather'],
  uniforms: [{ name: 'total', type: 'u32' }],
  bindings: [f32In('x'), i32In('index'), f32Out('y')],
  consts: [],
  workgroupSize: WORKGROUP.elementwise,
});

function run(r: Recorder, p: Program, g: PoolGeom, total: number, bindings: Bound[]): void {
  r.run({
    program: p,
    label: LABELS.get(p) ?? p.id,
    shapes: `[${g.n}, ${g.c}, ${g.h}, ${g.w}] window ${g.kh}×${g.kw} stride ${g.sh}×${g.sw} pad ${g.ph}×${g.pw}`,
    consts: { COUNT_PAD: g.countIncludePad },
    bindings,
    uniforms: { total, h: g.h, w: g.w, kh: g.kh, kw: g.kw, sh: g.sh, sw: g.sw, ph: g.ph, pw: g.pw, oh: g.oh, ow: g.ow },
    workgroups: r.grid1d(total, p.workgroupSize),
  });
}

export function maxPool(r: Recorder, x: BTensor, g: PoolGeom): { y: BTensor; argmax: BTensor } {
  const shape = [g.n, g.c, g.oh, g.ow];
  const y = r.alloc(shape, 'maxpool'),
    argmax = r.alloc(shape, 'maxpool argmax', 'i32');
  run(r, MAX_FORWARD, g, y.size, [bind('x', x), bind('y', y), bind('argmax', argmax, 'i32')]);
  return { y, argmax };
}

export function gather(r: Recorder, src: BTensor, index: BTensor, label: string): BTensor {
  const y = r.alloc(index.shape, label);
  r.run({
    program: GATHER,
    label: 'gather',
    shapes: `${shapeStr(src.shape)} at ${shapeStr(index.shape)}`,
    consts: {},
    bindings: [bind('x', src), bind('index', index, 'i32'), bind('y', y)],
    uniforms: { total: y.size },
    workgroups: r.grid1d(y.size, GATHER.workgroupSize),
  });
  return y;
}

export function maxPoolBackward(r: Recorder, gy: BTensor, argmax: BTensor, g: PoolGeom): BTensor {
  const gx = r.alloc([g.n, g.c, g.h, g.w], 'maxpool backward');
  run(r, MAX_BACKWARD, g, gx.size, [bind('gy', gy), bind('argmax', argmax, 'i32'), bind('gx', gx)]);
  return gx;
}

export function avgPool(r: Recorder, x: BTensor, g: PoolGeom): BTensor {
  const y = r.alloc([g.n, g.c, g.oh, g.ow], 'avgpool');
  run(r, AVG_FORWARD, g, y.size, [bind('x', x), bind('y', y)]);
  return y;
}

export function avgPoolBackward(r: Recorder, gy: BTensor, g: PoolGeom): BTensor {
  const gx = r.alloc([g.n, g.c, g.h, g.w], 'avgpool backward');
  run(r, AVG_BACKWARD, g, gx.size, [bind('gy', gy), bind('gx', gx)]);
  return gx;
}
