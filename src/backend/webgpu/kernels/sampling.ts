// The sampling family (shaders/philox.wgsl, and reduce.wgsl's sample_reduce): noise drawn in-kernel from
// Philox, the inputs of a chunk of samples, and the fold of their gradients into running statistics.
import type { BTensor, SamplePlan, SampleStats } from '../../backend.js';
import { shapeStr } from '../../../tensor.js';
import { NOISE_CODE, WORKGROUP } from '../prelude.js';
import type { Access, Bound, BindingDecl, Program, UniformDecl } from '../program.js';
import { bind, opt, type Recorder } from './recorder.js';
import { SOURCES } from './sources.js';

const PLAN_UNIFORMS = ['key0', 'key1', 'B', 'd', 'N', 'S'];
const PLAN_CONSTS = ['NOISE', 'HAS_BASELINE', 'MULTIPLY', 'ABSOLUTE'];
const f32 = (name: string, access: Access = 'read'): BindingDecl => ({ name, access, types: ['f32'] });
/** The plan's bindings, shared by the sampling kernels (ball factors are written by one, read by the others). */
const planBindings = (ballAccess: Access): BindingDecl[] => [
  { name: 'exampleIds', access: 'read', types: ['i32'] },
  f32('planParams'),
  f32('given'),
  f32('ballFactors', ballAccess),
  f32('baseline'),
];
const program = (entry: string, uniforms: string[], ballAccess: Access, more: BindingDecl[]): Program =>
  SOURCES.program({
    family: 'philox',
    sections: ['philox', 'noise', entry],
    uniforms: [...PLAN_UNIFORMS, ...uniforms].map((name): UniformDecl => ({ name, type: 'u32' })),
    bindings: [...planBindings(ballAccess), ...more],
    consts: PLAN_CONSTS,
    workgroupSize: WORKGROUP.elementwise,
  });

const BALL_FACTORS = program('ball_factors', [], 'read_write', []);
/** One thread per (example, sample): short inputs, where a workgroup per pair would wait on its barriers. */
const BALL_FACTORS_SERIAL = SOURCES.program({
  ...BALL_FACTORS,
  sections: ['philox', 'noise', 'ball_factors_serial'],
  workgroupSize: WORKGROUP.row,
});
const SAMPLE_INPUTS = program('sample_inputs', ['q0', 'len'], 'read', [f32('x'), f32('out', 'read_write')]);
const SAMPLE_REDUCE = program('reduce.sample_reduce', ['q0', 'len', 'done'], 'read', [
  f32('x'),
  f32('grads'),
  f32('stats', 'read_write'),
]);

const bound = (p: SamplePlan, ballFactors: BTensor | null): Bound[] => [
  bind('exampleIds', p.exampleIds, 'i32'),
  bind('planParams', p.params),
  opt('given', p.given),
  opt('ballFactors', ballFactors),
  opt('baseline', p.baseline),
];
// Built by assignment, never by spreading (a spread-built object is a slow dictionary; see gemm.ts).
const uniforms = (p: SamplePlan, B: number, d: number): Record<string, number> => ({
  key0: p.key[0],
  key1: p.key[1],
  B,
  d,
  N: p.noiseSamples,
  S: p.steps,
});
const withChunk = (u: Record<string, number>, q0: number, len: number, done?: number) => {
  u.q0 = q0;
  u.len = len;
  if (done !== undefined) u.done = done;
  return u;
};
const consts = (p: SamplePlan) => ({
  NOISE: NOISE_CODE[p.noise],
  HAS_BASELINE: !!p.baseline,
  MULTIPLY: p.multiply,
  ABSOLUTE: p.absolute,
});

/**
 * For the L2 ball: r·U^(1/d)/|z| per (example, noise sample) [B, N]. Short inputs (d ≤ 1024): one thread per
 * pair; long ones: a workgroup per pair reduces |z|² in parallel. Either grid is folded past 65,535.
 */
export function ballFactors(r: Recorder, plan: SamplePlan, d: number): BTensor {
  const B = plan.exampleIds.size,
    pairs = B * plan.noiseSamples;
  const out = r.alloc([B, plan.noiseSamples], 'ball factors');
  const serial = d <= 1024;
  r.run({
    program: serial ? BALL_FACTORS_SERIAL : BALL_FACTORS,
    label: 'noise ball factors',
    shapes: `[${B}, ${plan.noiseSamples}] over d = ${d}`,
    consts: consts(plan),
    bindings: bound(plan, out),
    uniforms: uniforms(plan, B, d),
    workgroups: serial ? r.grid1d(pairs, WORKGROUP.row) : r.grid1d(pairs, 1), // a workgroup per pair: 1 pair per group
  });
  return out;
}

export function sampleInputs(
  r: Recorder,
  plan: SamplePlan,
  x: BTensor,
  q0: number,
  len: number,
  ballFactors: BTensor | null,
): BTensor {
  const B = x.shape[0],
    d = x.size / B;
  const out = r.alloc([B * len, ...x.shape.slice(1)], 'sample inputs');
  r.run({
    program: SAMPLE_INPUTS,
    label: `sample inputs (${plan.noise})`,
    shapes: `x${shapeStr(x.shape)}, samples ${q0}…${q0 + len - 1}`,
    consts: consts(plan),
    bindings: [...bound(plan, ballFactors), bind('x', x), bind('out', out)],
    uniforms: withChunk(uniforms(plan, B, d), q0, len),
    workgroups: r.grid1d(B * len * Math.ceil(d / 4), SAMPLE_INPUTS.workgroupSize),
  });
  return out;
}

export function sampleReduce(
  r: Recorder,
  plan: SamplePlan,
  x: BTensor,
  grads: BTensor,
  q0: number,
  len: number,
  ballFactors: BTensor | null,
  st: SampleStats,
  done: number,
): void {
  const B = x.shape[0],
    d = x.size / B;
  r.run({
    program: SAMPLE_REDUCE,
    label: 'sample reduce',
    shapes: `x${shapeStr(x.shape)}, samples ${q0}…${q0 + len - 1}`,
    consts: consts(plan),
    bindings: [...bound(plan, ballFactors), bind('x', x), bind('grads', grads), bind('stats', st)],
    uniforms: withChunk(uniforms(plan, B, d), q0, len, done),
    workgroups: r.grid1d(B * d, SAMPLE_REDUCE.workgroupSize),
  });
}
