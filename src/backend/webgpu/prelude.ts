// The WGSL prelude every composed kernel starts with, emitted from TypeScript so that the host and the
// shaders share one definition of each number: the workgroup size (used by `@workgroup_size` and by the
// host's grid), the linear invocation id, NCHW index helpers, and a named constant for every enumeration
// that reaches WGSL as a specialisation constant. shaders/*.wgsl name these; they hold no bare enum value
// and no hand-copied workgroup size.
import type { ActivationKind, BinaryKind, HeadKind, NoiseKind } from '../backend.js';

/** Workgroup sizes of the 1-D kernels, by role. The host's grids use the same numbers. */
export const WORKGROUP = {
  /** Elementwise kernels (pointwise, pooling, sampling, split-K sums) and the tree reductions. */
  elementwise: 256,
  /** The barrier-free direct GEMM: few registers per lane, so smaller groups keep more of them resident. */
  gemmDirect: 64,
  /** One thread per example (loss heads). */
  row: 64,
} as const;

/** The codes of the enumerations, by kind. WGSL sees them as `ACT_RELU`, `HEAD_LOGIT`, `NOISE_GAUSSIAN`, …. */
export const ACTIVATION_CODE: Record<ActivationKind, number> = { relu: 0, softplus: 1, tanh: 2, sigmoid: 3 };
export const HEAD_CODE: Record<HeadKind, number> = { logit: 0, probability: 1, crossEntropy: 2, gaussNewton: 3 };
export const NOISE_CODE: Record<NoiseKind, number> = { none: 0, gaussian: 1, cube: 2, ball: 3, given: 4 };
export const BINARY_CODE: Record<BinaryKind, number> = { add: 0, sub: 1, mul: 2, div: 3 };
/** Which stream a GEMM epilogue activates (gemm.wgsl epilogue_fused). */
export const FUSE_CODE = { value: 1, tangent: 2 } as const;

const ENUMS: [prefix: string, codes: Record<string, number>][] = [
  ['ACT', ACTIVATION_CODE],
  ['HEAD', HEAD_CODE],
  ['NOISE', NOISE_CODE],
  ['FUSE', FUSE_CODE],
  ['BINARY', BINARY_CODE],
];

/** crossEntropy → CROSS_ENTROPY. */
const upperSnake = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

/** The enumeration constants, e.g. `const NOISE_GIVEN: u32 = 4u;`: the same text for every kernel. */
const ENUM_WGSL = ENUMS.flatMap(([prefix, codes]) =>
  Object.entries(codes).map(([name, code]) => `const ${prefix}_${upperSnake(name)}: u32 = ${code}u;`),
).join('\n');

const HELPERS_WGSL = `
// The invocation's index in a 1-D launch of WORKGROUP_SIZE-thread groups, folded into y past the per-dimension
// workgroup limit (the host folds its grid the same way).
fn linearId(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * WORKGROUP_SIZE; }
// A flat index i of an [a, b, c] array as (i / (b·c), (i / c) % b, i % c): NCHW unravelling, (n, h, w) of a
// plane index or (c, r, s) of a filter tap.
fn unravel3(i: u32, b: u32, c: u32) -> vec3u { let t = i / c; return vec3u(t / b, t % b, i % c); }
// The flat index of (n, c, h, w) in an [N, C, H, W] array.
fn nchw(n: u32, c: u32, h: u32, w: u32, C: u32, H: u32, W: u32) -> u32 { return ((n * C + c) * H + h) * W + w; }
`;

/** The prelude of a kernel whose workgroups have `workgroupSize` threads. */
export function preludeWgsl(workgroupSize: number): string {
  return `const WORKGROUP_SIZE: u32 = ${workgroupSize}u;\n${ENUM_WGSL}\n${HELPERS_WGSL}`;
}
