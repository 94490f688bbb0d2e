// The pointwise family (shaders/pointwise.wgsl): activations with their tangent (forward) and their backward
// with its tangent (backward2), value and tangent streams in one dispatch; zeros; the add layer (and
// gradients summed at fan-out); block copies (concatenation along channels and its slices).
import type { ActivationKind, BlockCopy, BTensor } from '../../backend.js';
import { shapeStr } from '../../../tensor.js';
import { ACTIVATION_CODE, WORKGROUP } from '../prelude.js';
import type { BindingDecl, UniformDecl } from '../program.js';
import { bind, opt, type GpuTensor, type Recorder } from './recorder.js';
import { SOURCES } from './sources.js';

const UNIFORMS: UniformDecl[] = [
  { name: 'total', type: 'u32' },
  { name: 'beta', type: 'f32' },
];
const inp = (name: string): BindingDecl => ({ name, access: 'read', types: ['f32'] });
const out = (name: string): BindingDecl => ({ name, access: 'read_write', types: ['f32'] });

const FORWARD = SOURCES.program({
  family: 'pointwise',
  sections: ['common', 'forward'],
  uniforms: UNIFORMS,
  bindings: [inp('z'), inp('zdot'), out('y'), out('ydot')],
  consts: ['ACT', 'HAS_TANGENT'],
  workgroupSize: WORKGROUP.elementwise,
});
const BACKWARD = SOURCES.program({
  family: 'pointwise',
  sections: ['common', 'backward'],
  uniforms: UNIFORMS,
  bindings: [inp('z'), inp('gy'), inp('zdot'), inp('gydot'), out('gz'), out('gzdot')],
  consts: ['ACT', 'HAS_ZDOT', 'HAS_GYDOT'],
  workgroupSize: WORKGROUP.elementwise,
});

const FILL = SOURCES.program({
  family: 'pointwise',
  sections: ['fill'],
  uniforms: [{ name: 'total', type: 'u32' }],
  bindings: [out('out')],
  consts: [],
  workgroupSize: WORKGROUP.elementwise,
});

/** A tensor of zeros made on the device (a zero tangent), so nothing of its size is uploaded. */
export function zeros(r: Recorder, shape: readonly number[], label: string): BTensor {
  const t = r.alloc(shape, label);
  r.run({
    program: FILL,
    label: 'fill zeros',
    shapes: shapeStr(shape),
    consts: {},
    bindings: [bind('out', t)],
    uniforms: { total: t.size },
    workgroups: r.grid1d(t.size, FILL.workgroupSize),
  });
  return t;
}

export function activation(r: Recorder, kind: ActivationKind, beta: number, z: BTensor, zdot: BTensor | null) {
  const y = r.alloc(z.shape, kind),
    ydot = zdot ? r.alloc(z.shape, `${kind} tangent`) : null;
  r.run({
    program: FORWARD,
    label: `${kind} forward${zdot ? '+tangent' : ''}`,
    shapes: shapeStr(z.shape),
    consts: { ACT: ACTIVATION_CODE[kind], HAS_TANGENT: !!zdot },
    bindings: [bind('z', z), opt('zdot', zdot), bind('y', y), opt('ydot', ydot)],
    uniforms: { total: y.size, beta },
    workgroups: r.grid1d(y.size, FORWARD.workgroupSize),
  });
  return { y, ydot };
}

export function activationBackward(
  r: Recorder,
  kind: ActivationKind,
  beta: number,
  z: BTensor,
  gy: BTensor,
  zdot: BTensor | null,
  gydot: BTensor | null,
) {
  const gz = r.alloc(z.shape, `${kind} backward`),
    gzdot = zdot || gydot ? r.alloc(z.shape, `${kind} backward2`) : null;
  r.run({
    program: BACKWARD,
    label: `${kind} backward${gzdot ? '2' : ''}`,
    shapes: shapeStr(z.shape),
    consts: { ACT: ACTIVATION_CODE[kind], HAS_ZDOT: !!zdot, HAS_GYDOT: !!gydot },
    bindings: [
      bind('z', z),
      bind('gy', gy),
      opt('zdot', zdot),
      opt('gydot', gydot),
      bind('gz', gz),
      opt('gzdot', gzdot),
    ],
    uniforms: { total: gz.size, beta },
    workgroups: r.grid1d(gz.size, BACKWARD.workgroupSize),
  });
  return { gz, gzdot };
}

const ADD = SOURCES.program({
  family: 'pointwise',
  sections: ['add'],
  uniforms: [{ name: 'total', type: 'u32' }],
  bindings: [inp('a'), inp('b'), out('out')],
  consts: [],
  workgroupSize: WORKGROUP.elementwise,
});

/** a + b, elementwise (equal sizes). */
export function add(r: Recorder, a: BTensor, b: BTensor, label: string): BTensor {
  if (a.size !== b.size) throw new Error(`add: sizes differ (${shapeStr(a.shape)} vs ${shapeStr(b.shape)})`);
  const sum = r.alloc(a.shape, label);
  r.run({
    program: ADD,
    label: 'add',
    shapes: shapeStr(a.shape),
    consts: {},
    bindings: [bind('a', a), bind('b', b), bind('out', sum)],
    uniforms: { total: sum.size },
    workgroups: r.grid1d(sum.size, ADD.workgroupSize),
  });
  return sum;
}

const COPY_BLOCKS = SOURCES.program({
  family: 'pointwise',
  sections: ['copy_blocks'],
  uniforms: ['total', 'length', 'srcBlock', 'srcOffset', 'dstBlock', 'dstOffset'].map((name) => ({
    name,
    type: 'u32' as const,
  })),
  bindings: [inp('src'), out('dst')],
  consts: [],
  workgroupSize: WORKGROUP.elementwise,
});

/** Copies `g.length` values per example from `src` into `into` (or a new tensor of `shape`); see BlockCopy. */
export function copyBlocks(
  r: Recorder,
  src: BTensor,
  g: BlockCopy,
  into: BTensor | null,
  shape: readonly number[],
  label: string,
): BTensor {
  const dst = (into as GpuTensor | null) ?? r.alloc(shape, label);
  const total = g.n * g.length;
  r.run({
    program: COPY_BLOCKS,
    label: 'copy blocks',
    shapes: `${g.n}×${g.length} from ${shapeStr(src.shape)} to ${shapeStr(dst.shape)}`,
    consts: {},
    bindings: [bind('src', src), bind('dst', dst)],
    uniforms: {
      total,
      length: g.length,
      srcBlock: g.srcBlock,
      srcOffset: g.srcOffset,
      dstBlock: g.dstBlock,
      dstOffset: g.dstOffset,
    },
    workgroups: r.grid1d(total, COPY_BLOCKS.workgroupSize),
  });
  return dst;
}
