// The GEMM family (shaders/gemm.wgsl): dense matmul and the three conv2d passes as implicit GEMMs (loaders
// from shaders/conv2d.wgsl), each run by the kernel that gemm-plan.ts picks for its shape.
import type { BTensor, ConvGeom, EpilogueActivation, MatmulOptions } from '../../backend.js';
import { shapeStr } from '../../../tensor.js';
import { directStaging, gemmPlan, KPAR_LANES, kparTreeSum } from '../gemm-plan.js';
import { ACTIVATION_CODE, FUSE_CODE, WORKGROUP } from '../prelude.js';
import type { Bound, ConstValue, ElemType, Program, UniformDecl } from '../program.js';
import { bind, opt, type GpuTensor, type Recorder } from './recorder.js';
import { SOURCES } from './sources.js';

/** How a variant reads A and B and stores C: its sections, operand bindings, uniforms and constants. */
interface Body {
  name: string;
  sections: readonly string[];
  operands: readonly [string, string];
  /** Element type each operand is bound as (dense operands are read as vec4f when their fast side allows). */
  operandTypes: readonly [ElemType, ElemType];
  uniforms: readonly UniformDecl[];
  consts: readonly string[];
}

const u32 = (...names: string[]): UniformDecl[] => names.map((name) => ({ name, type: 'u32' as const }));
const GEMM_UNIFORMS = u32('M', 'N', 'K', 'kChunk', 'splits');
// grp: the group this GEMM computes; cg, og: input and output channels per group (conv2d.wgsl).
const CONV_UNIFORMS = u32('n', 'c', 'h', 'w', 'o', 'oh', 'ow', 'grp', 'cg', 'og');
const CONV_CONSTS = ['KH', 'KW', 'SH', 'SW', 'PH', 'PW', 'DH', 'DW', 'IH', 'IW', 'OH', 'OW'];
/** One phase of a strided backward-input (conv2d.wgsl backward_input_phase). */
const PHASE_CONSTS = ['PHASE_H', 'PHASE_W', 'R0H', 'R0W', 'TAPS_H', 'TAPS_W', 'OFF_H', 'OFF_W', 'PH_ROWS', 'PW_COLS'];
const EPILOGUE_CONSTS = ['HAS_BIAS', 'ACCUMULATE'];
/** A fused epilogue adds the activation (ACT, FUSE), its β, its output and the saved pre-activation. */
const FUSED_CONSTS = ['ACT', 'FUSE'];
const KERNEL_CONSTS = {
  main: ['TILE_M', 'TILE_N', 'TILE_K', 'A_K_FAST', 'B_K_FAST', 'VEC_A', 'VEC_B', 'SPLIT_K'],
  direct: [
    'R_M',
    'R_N',
    'ALONG_M',
    'A_K_FAST',
    'B_K_FAST',
    'VEC_A',
    'VEC_B',
    'SPLIT_K',
    'STAGE_B',
    'STAGE_ROWS',
    'STAGE_GROUPS',
    'STAGE_VPG',
  ],
  wide: ['A_K_FAST', 'B_K_FAST', 'VEC_A', 'VEC_B', 'SPLIT_K'],
  kpar: ['A_K_FAST', 'B_K_FAST', 'VEC_A', 'VEC_B', 'SPLIT_K'],
  splitk: [],
  splitk_tree: [],
} as const;

const dense = (vecA: boolean, vecB: boolean): Body => ({
  name: `dense${vecA ? '4' : '1'}${vecB ? '4' : '1'}`,
  sections: [vecA ? 'operand_a_vec4' : 'operand_a_scalar', vecB ? 'operand_b_vec4' : 'operand_b_scalar', 'dense'],
  operands: ['a', 'b'],
  operandTypes: [vecA ? 'vec4f' : 'f32', vecB ? 'vec4f' : 'f32'],
  uniforms: [],
  consts: ['TRANS_A', 'TRANS_B'],
});
const conv = (
  pass: 'forward' | 'backward_input' | 'backward_input_phase' | 'backward_filter',
  operands: [string, string],
): Body => ({
  name: `conv2d.${pass}`,
  sections: [`conv2d.${pass}`, 'gathered'],
  operands,
  operandTypes: ['f32', 'f32'],
  uniforms: CONV_UNIFORMS,
  consts: CONV_CONSTS,
});
const BODIES = {
  dense11: dense(false, false),
  dense14: dense(false, true),
  dense41: dense(true, false),
  dense44: dense(true, true),
  convForward: conv('forward', ['x', 'wt']),
  convBackwardInput: conv('backward_input', ['gy', 'wt']),
  convBackwardFilter: conv('backward_filter', ['gy', 'x']),
  convBackwardInputPhase: {
    ...conv('backward_input_phase', ['gy', 'wt']),
    consts: [...CONV_CONSTS, ...PHASE_CONSTS],
  },
};

type KernelName = keyof typeof KERNEL_CONSTS;
const programs = new Map<string, Program>();
/** The program of a kernel on a body (with or without the fused activation epilogue), made once. */
function program(kernel: KernelName, body: Body, workgroupSize: number, fused: boolean): Program {
  const id = `${kernel}:${body.name}:${workgroupSize}:${fused}`;
  let p = programs.get(id);
  if (!p) {
    p = SOURCES.program({
      family: 'gemm',
      sections: [kernel, ...(fused ? ['pointwise.common', 'epilogue_fused'] : ['epilogue']), ...body.sections],
      uniforms: [...GEMM_UNIFORMS, ...body.uniforms, ...(fused ? [{ name: 'beta', type: 'f32' as const }] : [])],
      bindings: [
        { name: body.operands[0], access: 'read', types: [body.operandTypes[0]] },
        { name: body.operands[1], access: 'read', types: [body.operandTypes[1]] },
        { name: 'bias', access: 'read', types: ['f32'] },
        { name: 'out', access: 'read_write', types: ['f32'] },
        { name: 'partial', access: 'read_write', types: ['f32'] },
        ...(fused
          ? ([
              { name: 'act_out', access: 'read_write', types: ['f32'] },
              { name: 'act_z', access: 'read', types: ['f32'] },
            ] as const)
          : []),
      ],
      consts: [...KERNEL_CONSTS[kernel], ...EPILOGUE_CONSTS, ...(fused ? FUSED_CONSTS : []), ...body.consts],
      workgroupSize,
    });
    programs.set(id, p);
  }
  return p;
}

/** One GEMM to record: the body, its operands and geometry. */
interface Gemm {
  label: string;
  shapes: string;
  body: Body;
  operands: [Bound, Bound];
  bias: BTensor | null;
  out: GpuTensor;
  accumulate: boolean;
  aKFast: boolean;
  bKFast: boolean;
  vecA: boolean;
  vecB: boolean;
  geometry: Record<string, number>;
  consts: Record<string, ConstValue>;
  M: number;
  N: number;
  K: number;
  /** The activation fused into the store, and its output (the same shape as `out`). */
  act?: { spec: EpilogueActivation; out: GpuTensor } | null;
  /** B is a convolution's weights: direct may stage it in workgroup memory (gemm-plan.ts directStaging). */
  stageB?: boolean;
}

/** Records the GEMM; returns its output and, when an activation is fused, the activation's output. */
function gemm(r: Recorder, v: Gemm): { z: GpuTensor; a: GpuTensor | null } {
  const plan = gemmPlan(v.M, v.N, v.K, v.vecB && !v.bKFast, r.gemmPlanOptions);
  const { splits, kChunk } = plan;
  const act = v.act ?? null,
    fused = !!act;
  // Objects built by assignment, not by spreading: V8 makes spread-built objects slow dictionaries, and these
  // are built for every dispatch (object spreads cost ~20 µs per dispatch here; assignments ~0.1 µs).
  const uniforms: Record<string, number> = { M: v.M, N: v.N, K: v.K, kChunk, splits };
  for (const k in v.geometry) uniforms[k] = v.geometry[k];
  if (act) uniforms.beta = act.spec.beta;
  const partial = splits > 1 ? r.alloc([splits, v.M, v.N], `${v.label} split-K partials`) : null;
  const bindings = [
    ...v.operands,
    opt('bias', v.bias),
    bind('out', v.out),
    opt('partial', partial),
    ...(act ? [bind('act_out', act.out), opt('act_z', act.spec.z)] : []),
  ];
  // The split-K sum's constants (body and epilogue), then the GEMM kernel's (those plus the plan's).
  const common: Record<string, ConstValue> = { HAS_BIAS: !!v.bias, ACCUMULATE: v.accumulate };
  for (const k in v.consts) common[k] = v.consts[k];
  if (act) {
    common.ACT = ACTIVATION_CODE[act.spec.kind];
    common.FUSE = act.spec.z ? FUSE_CODE.tangent : FUSE_CODE.value;
  }
  const consts: Record<string, ConstValue> = {
    A_K_FAST: v.aKFast,
    B_K_FAST: v.bKFast,
    VEC_A: v.vecA,
    VEC_B: v.vecB,
    SPLIT_K: splits > 1,
  };
  for (const k in plan.consts) consts[k] = plan.consts[k];
  if (plan.kernel === 'direct') {
    const staging = directStaging(plan, v.N, !!v.stageB, r.gemmPlanOptions);
    for (const k in staging) consts[k] = staging[k];
  }
  for (const k in common) consts[k] = common[k];
  // main: one workgroup per 64×64 tile. wide: one per 128×128 tile, numbered 1-D (its swizzle maps the
  // number to a tile). direct: one thread per block of C. kpar: one workgroup per 4×4 block, numbered 1-D
  // (kpar runs at any M, so its blocks may outnumber the workgroups of one dimension).
  const [bn, bm] = plan.blocks;
  const [x, y] =
    plan.kernel === 'main'
      ? [bn, bm]
      : plan.kernel === 'wide' || plan.kernel === 'kpar'
        ? r.grid1d(bn * bm, 1)
        : r.grid1d(bn * bm, plan.workgroupSize);
  // Labels name the kernel and its split (each dispatch's own: a pipeline serves every split count).
  const what = `${v.label}${act ? ` + ${act.spec.kind}${act.spec.z ? ' tangent' : ''}` : ''}`;
  const kernelName = plan.kernel === 'main' ? 'tiled' : plan.kernel === 'wide' ? 'tiled 128×128' : plan.kernel;
  r.run({
    program: program(plan.kernel, v.body, plan.workgroupSize, fused),
    label: `${what} [${kernelName}${splits > 1 ? `, split-K ${splits}×${kChunk}` : ''}]`,
    shapes: v.shapes,
    consts,
    bindings,
    uniforms,
    workgroups: [x, y, splits],
  });
  if (partial) {
    // kpar's many chunks are added by a workgroup per value (a tree); the tiled kernels' few, and up to 8 of
    // kpar's (the same order as its tree: gemm-plan.ts kparTreeSum), by a thread each.
    const tree = plan.kernel === 'kpar' && kparTreeSum(splits, r.gemmPlanOptions);
    const size = tree ? KPAR_LANES : WORKGROUP.elementwise;
    r.run({
      program: program(tree ? 'splitk_tree' : 'splitk', v.body, size, fused),
      label: `${what} [sum of ${splits} K chunks${tree ? ', tree' : ''}]`,
      shapes: v.shapes,
      consts: common,
      bindings,
      uniforms,
      workgroups: tree ? r.grid1d(v.M * v.N, 1) : r.grid1d(v.M * v.N, WORKGROUP.elementwise),
    });
    r.release(partial);
  }
  return { z: v.out, a: act?.out ?? null };
}

/** C = op(A)·op(B) (+ bias) (+ into), and the fused activation's output when `act` is given. */
export function matmul(r: Recorder, a: BTensor, b: BTensor, o: MatmulOptions, act: EpilogueActivation | null = null) {
  const [ar, ac] = [a.shape[0], a.size / a.shape[0]];
  const [br, bc] = [b.shape[0], b.size / b.shape[0]];
  const [M, K] = o.transA ? [ac, ar] : [ar, ac];
  const [K2, N] = o.transB ? [bc, br] : [br, bc];
  if (K !== K2) throw new Error(`${o.label}: inner dimensions ${K} and ${K2} differ`);
  const { out, accumulate } = r.output(o.into, [M, N], o.label);
  // vec4 loads along each operand's fast dimension when its length is a multiple of 4.
  const vecA = (o.transA ? M : K) % 4 === 0,
    vecB = (o.transB ? K : N) % 4 === 0;
  const body = BODIES[`dense${vecA ? 4 : 1}${vecB ? 4 : 1}` as 'dense11'];
  return gemm(r, {
    label: `gemm ${o.label}`,
    shapes: `${o.transA ? 'Aᵀ' : 'A'}${shapeStr(a.shape)}·${o.transB ? 'Bᵀ' : 'B'}${shapeStr(b.shape)}`,
    body,
    operands: [bind('a', a, vecA ? 'vec4f' : 'f32'), bind('b', b, vecB ? 'vec4f' : 'f32')],
    consts: { TRANS_A: !!o.transA, TRANS_B: !!o.transB },
    bias: o.bias ?? null,
    out,
    accumulate,
    aKFast: !o.transA,
    bKFast: !!o.transB,
    vecA,
    vecB,
    geometry: {},
    M,
    N,
    K,
    act: activated(r, act, [M, N]),
  });
}

/** The fused activation's output tensor, or null. */
function activated(r: Recorder, act: EpilogueActivation | null, shape: number[]): Gemm['act'] {
  if (!act) return null;
  if (act.z && act.z.size !== shape.reduce((x, y) => x * y, 1))
    throw new Error(`fused ${act.kind} tangent: z has ${act.z.size} values, expected ${shape.join('×')}`);
  return { spec: act, out: r.alloc(shape, act.z ? `${act.kind} tangent` : act.kind) };
}

const convUniforms = (g: ConvGeom, grp: number) => ({
  n: g.n,
  c: g.c,
  h: g.h,
  w: g.w,
  o: g.o,
  oh: g.oh,
  ow: g.ow,
  grp,
  cg: g.c / g.groups,
  og: g.o / g.groups,
});
/**
 * Kernel size, stride, padding, dilation and the spatial sizes are compile-time constants in conv2d.wgsl: its
 * divisions become multiplies and shifts (one pipeline per layer shape and pass, whatever the batch).
 */
const convConsts = (g: ConvGeom) => ({
  IH: g.h,
  IW: g.w,
  OH: g.oh,
  OW: g.ow,
  KH: g.kh,
  KW: g.kw,
  SH: g.sh,
  SW: g.sw,
  PH: g.ph,
  PW: g.pw,
  DH: g.dh,
  DW: g.dw,
});
const convShapes = (g: ConvGeom) =>
  `x[${g.n}, ${g.c}, ${g.h}, ${g.w}] w[${g.o}, ${g.c / g.groups}, ${g.kh}, ${g.kw}] stride ${g.sh}×${g.sw} pad ${g.ph}×${g.pw} dilation ${g.dh}×${g.dw}${g.groups > 1 ? ` groups ${g.groups}` : ''}`;

/**
 * One GEMM per group (one for groups = 1), each on its group's channels and weights; they write disjoint
 * parts of the output (and of the fused activation's output), so each group's store runs the epilogue on
 * its own part.
 */
function convGemm(r: Recorder, g: ConvGeom, v: Omit<Gemm, 'geometry'>): { z: GpuTensor; a: GpuTensor | null } {
  // The geometry is assigned, not spread in, per group (see gemm: spread-built objects are slow).
  const call = v as Gemm;
  let result: { z: GpuTensor; a: GpuTensor | null } = { z: v.out, a: v.act?.out ?? null };
  for (let grp = 0; grp < g.groups; grp++) {
    call.geometry = convUniforms(g, grp);
    result = gemm(r, call);
  }
  return result;
}
// Convolution operands are gathered element by element, never as vec4 (conv2d.wgsl): vecA and vecB false.

/** y = conv(x, w) + bias (+ into), and the fused activation's output when `act` is given. */
export function conv2d(
  r: Recorder,
  x: BTensor,
  w: BTensor,
  bias: BTensor | null,
  g: ConvGeom,
  into?: BTensor | null,
  act: EpilogueActivation | null = null,
) {
  const shape = [g.n, g.o, g.oh, g.ow];
  const { out, accumulate } = r.output(into, shape, 'conv2d');
  return convGemm(r, g, {
    label: 'conv2d forward',
    stageB: true,
    shapes: convShapes(g),
    body: BODIES.convForward,
    operands: [bind('x', x), bind('wt', w)],
    bias,
    out,
    accumulate,
    aKFast: false,
    bKFast: true,
    vecA: false,
    vecB: false,
    act: activated(r, act, shape),
    consts: convConsts(g),
    M: g.n * g.oh * g.ow,
    N: g.o / g.groups,
    K: (g.c / g.groups) * g.kh * g.kw,
  });
}

export function conv2dBackwardInput(r: Recorder, gy: BTensor, w: BTensor, g: ConvGeom, into?: BTensor | null): BTensor {
  const { out, accumulate } = r.output(into, [g.n, g.c, g.h, g.w], 'conv2d backward input');
  const common = {
    stageB: true,
    shapes: convShapes(g),
    operands: [bind('gy', gy), bind('wt', w)] as [Bound, Bound],
    bias: null,
    out,
    accumulate,
    aKFast: false,
    bKFast: true,
    vecA: false,
    vecB: false,
    N: g.c / g.groups,
  };
  if ((g.sh === 1 && g.sw === 1) || g.dh !== 1 || g.dw !== 1)
    return convGemm(r, g, {
      ...common,
      label: 'conv2d backward input',
      body: BODIES.convBackwardInput,
      consts: convConsts(g),
      M: g.n * g.h * g.w,
      K: (g.o / g.groups) * g.kh * g.kw,
    }).z;
  // Strided: one GEMM per phase of the input grid, each on the taps that reach it (no zero taps).
  for (let a = 0; a < g.sh; a++)
    for (let b = 0; b < g.sw; b++) {
      const rows = Math.ceil((g.h - a) / g.sh),
        cols = Math.ceil((g.w - b) / g.sw);
      if (rows <= 0 || cols <= 0) continue; // no pixel of the input has this phase
      const r0h = (a + g.ph) % g.sh,
        r0w = (b + g.pw) % g.sw;
      const tapsH = Math.max(0, Math.ceil((g.kh - r0h) / g.sh)),
        tapsW = Math.max(0, Math.ceil((g.kw - r0w) / g.sw));
      const consts: Record<string, ConstValue> = convConsts(g);
      consts.PHASE_H = a;
      consts.PHASE_W = b;
      consts.R0H = r0h;
      consts.R0W = r0w;
      // A phase that no tap reaches stores zeros (K = 0); its constants stay ≥ 1 so the text divides by none.
      consts.TAPS_H = Math.max(1, tapsH);
      consts.TAPS_W = Math.max(1, tapsW);
      consts.OFF_H = (a + g.ph - r0h) / g.sh;
      consts.OFF_W = (b + g.pw - r0w) / g.sw;
      consts.PH_ROWS = rows;
      consts.PW_COLS = cols;
      convGemm(r, g, {
        ...common,
        label: `conv2d backward input phase ${a},${b}`,
        body: BODIES.convBackwardInputPhase,
        consts,
        M: g.n * rows * cols,
        K: (g.o / g.groups) * tapsH * tapsW,
      });
    }
  return out;
}

export function conv2dBackwardFilter(
  r: Recorder,
  gy: BTensor,
  x: BTensor,
  g: ConvGeom,
  into?: BTensor | null,
): BTensor {
  const { out, accumulate } = r.output(into, [g.o, g.c / g.groups, g.kh, g.kw], 'conv2d backward filter');
  return convGemm(r, g, {
    label: 'conv2d backward filter',
    shapes: convShapes(g),
    body: BODIES.convBackwardFilter,
    operands: [bind('gy', gy), bind('x', x)],
    bias: null,
    out,
    accumulate,
    aKFast: true,
    bKFast: true,
    vecA: false,
    vecB: false,
    consts: convConsts(g),
    M: g.o / g.groups,
    N: (g.c / g.groups) * g.kh * g.kw,
    K: g.n * g.oh * g.ow,
  }).z;
}
