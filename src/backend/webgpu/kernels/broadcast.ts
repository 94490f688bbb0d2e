// The broadcast family (shaders/broadcast.wgsl): a binary op of two operands under numpy broadcasting, and
// the sum over broadcast dimensions that is its adjoint (the gradient of the broadcast operand).
import type { BinaryKind, BroadcastGeom, BTensor } from '../../backend.js';
import { MAX_BROADCAST_RANK } from '../../backend.js';
import { checkBroadcastGeom, sumToPlan, type Axis } from '../../broadcast.js';
import { shapeStr } from '../../../tensor.js';
import { BINARY_CODE, WORKGROUP } from '../prelude.js';
import type { BindingDecl, UniformDecl } from '../program.js';
import { bind, type Recorder } from './recorder.js';
import { SOURCES } from './sources.js';

const inp = (name: string): BindingDecl => ({ name, access: 'read', types: ['f32'] });
const out = (name: string): BindingDecl => ({ name, access: 'read_write', types: ['f32'] });
const u32s = (prefix: string): UniformDecl[] =>
  Array.from({ length: MAX_BROADCAST_RANK }, (_, i) => ({ name: `${prefix}${i}`, type: 'u32' as const }));

const BINARY = SOURCES.program({
  family: 'broadcast',
  sections: ['binary'],
  uniforms: [{ name: 'total', type: 'u32' }, ...u32s('d'), ...u32s('a'), ...u32s('b')],
  bindings: [inp('a'), inp('b'), out('out')],
  consts: ['KIND'],
  workgroupSize: WORKGROUP.elementwise,
});
const SUM_TO = SOURCES.program({
  family: 'broadcast',
  sections: ['sum_to'],
  uniforms: [
    { name: 'total', type: 'u32' },
    { name: 'inner', type: 'u32' },
    { name: 'scale', type: 'f32' },
    ...u32s('k'),
    ...u32s('ks'),
    ...u32s('r'),
    ...u32s('rs'),
  ],
  bindings: [inp('t'), out('out')],
  consts: [],
  workgroupSize: WORKGROUP.elementwise,
});

/** Uniforms `${prefix}0..5` from values padded in front with `fill` to MAX_BROADCAST_RANK. */
function padded(prefix: string, values: readonly number[], fill: number): Record<string, number> {
  const pad = MAX_BROADCAST_RANK - values.length;
  return Object.fromEntries(
    Array.from({ length: MAX_BROADCAST_RANK }, (_, i) => [`${prefix}${i}`, i < pad ? fill : values[i - pad]]),
  );
}

export function broadcastBinary(
  r: Recorder,
  kind: BinaryKind,
  a: BTensor,
  b: BTensor,
  g: BroadcastGeom,
  label: string,
): BTensor {
  checkBroadcastGeom(a, b, g, label);
  const y = r.alloc(g.shape, label);
  r.run({
    program: BINARY,
    label: `broadcast ${kind}`,
    shapes: `${shapeStr(a.shape)} ${kind} ${shapeStr(b.shape)} → ${shapeStr(g.shape)}`,
    consts: { KIND: BINARY_CODE[kind] },
    bindings: [bind('a', a), bind('b', b), bind('out', y)],
    uniforms: { total: y.size, ...padded('d', g.shape, 1), ...padded('a', g.a, 0), ...padded('b', g.b, 0) },
    workgroups: r.grid1d(y.size, BINARY.workgroupSize),
  });
  return y;
}

export function sumTo(
  r: Recorder,
  t: BTensor,
  from: readonly number[],
  to: readonly number[],
  scale: number,
  label: string,
): BTensor {
  const plan = sumToPlan(from, to, label);
  if (t.size !== from.reduce((p, d) => p * d, 1))
    throw new Error(`${label}: ${t.label} has ${t.size} values, not ${shapeStr(from)}`);
  const y = r.alloc(to, label);
  const sizes = (axes: Axis[]) => axes.map((x) => x.size),
    strides = (axes: Axis[]) => axes.map((x) => x.stride);
  r.run({
    program: SUM_TO,
    label: 'sum to broadcast shape',
    shapes: `${shapeStr(from)} → ${shapeStr(to)}`,
    consts: {},
    bindings: [bind('t', t), bind('out', y)],
    uniforms: {
      total: plan.total,
      inner: plan.inner,
      scale,
      ...padded('k', sizes(plan.kept), 1),
      ...padded('ks', strides(plan.kept), 0),
      ...padded('r', sizes(plan.summed), 1),
      ...padded('rs', strides(plan.summed), 0),
    },
    workgroups: r.grid1d(plan.total, SUM_TO.workgroupSize),
  });
  return y;
}
