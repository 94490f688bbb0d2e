import {
  KERNELS_RELAXED_SHARED_WASM_BASE64,
  KERNELS_RELAXED_WASM_BASE64,
  KERNELS_SHARED_WASM_BASE64,
  KERNELS_WASM_BASE64,
} from './kernels.generated.js';

/** The exports of kernels/index.ts: byte offsets and sizes in, nothing allocated. */
export interface KernelExports {
  HEAP_BASE: WebAssembly.Global;
  gemm(
    a: number,
    b: number,
    c: number,
    M: number,
    N: number,
    K: number,
    transA: number,
    transB: number,
    colBias: number,
    rowBias: number,
    ws: number,
  ): void;
  gemmWorkspaceBytes(M: number, N: number, K: number): number;
  gemmPack(
    a: number,
    b: number,
    M: number,
    N: number,
    K: number,
    transA: number,
    transB: number,
    colBias: number,
    ws: number,
    withB: number,
  ): void;
  /** Rows [m0, m1) × columns [n0, n1) of a packed GEMM (packOwn, m0, m1, n0, n1), with its epilogue (act, beta, aOut, tz), then zero (clear C first). */
  gemmPanel(
    a: number,
    b: number,
    c: number,
    M: number,
    N: number,
    K: number,
    transA: number,
    transB: number,
    colBias: number,
    ws: number,
    ...panelAndEpilogue: number[]
  ): void;
  conv2dForward(x: number, w: number, bias: number, y: number, ...geomAndWs: number[]): void;
  conv2dBackwardInput(gy: number, w: number, gx: number, ...geomAndWs: number[]): void;
  /** Geometry, then ws, partials, chunks, ob (channels a block), and the work items [lo, hi). */
  conv2dBackwardFilter(gy: number, x: number, ...geomAndWork: number[]): void;
  conv2dBackwardFilterSum(partials: number, chunks: number, size: number, gw: number): void;
  /** Geometry without n, then ob. */
  convFilterWorkspaceBytes(...geomAndOb: number[]): number;
  convWorkspaceBytes(c: number, o: number, kh: number, kw: number, oh: number, ow: number): number;
  /** Pool geometry: nc, h, w, kh, kw, sh, sw, ph, pw, oh, ow (and countIncludePad for average pooling). */
  maxPool(x: number, y: number, argmax: number, ...geom: number[]): void;
  gather(src: number, index: number, out: number, count: number): void;
  scatterAdd(gy: number, index: number, gx: number, count: number, zero: number, zeroCount: number): void;
  avgPool(x: number, y: number, ...geom: number[]): void;
  avgPoolBackward(gy: number, gx: number, ...geom: number[]): void;
  activation(kind: number, beta: number, z: number, zdot: number, y: number, ydot: number, count: number): void;
  activationBackward(
    kind: number,
    beta: number,
    z: number,
    gy: number,
    zdot: number,
    gydot: number,
    gz: number,
    gzdot: number,
    count: number,
  ): void;
  activationTangent(kind: number, beta: number, z: number, t: number, out: number, count: number): void;
  add(a: number, b: number, out: number, count: number): void;
  broadcastBinary(kind: number, a: number, b: number, out: number, geom: number): void;
  sumTo(t: number, out: number, total: number, scale: number, geom: number, ws: number): void;
  copyBlocks(
    src: number,
    dst: number,
    n: number,
    length: number,
    srcBlock: number,
    srcOffset: number,
    dstBlock: number,
    dstOffset: number,
  ): void;
  batchNormCoefficients(
    mean: number,
    variance: number,
    weight: number,
    bias: number,
    wd: number,
    bd: number,
    eps: number,
    C: number,
    out: number,
  ): void;
  batchNorm(
    x: number,
    xdot: number,
    coef: number,
    y: number,
    ydot: number,
    n: number,
    C: number,
    spatial: number,
    params: number,
  ): void;
  batchNormBackward(
    gy: number,
    gydot: number,
    coef: number,
    gx: number,
    gxdot: number,
    n: number,
    C: number,
    spatial: number,
    params: number,
  ): void;
  batchNormWeightGrad(
    x: number,
    xdot: number,
    gy: number,
    gydot: number,
    coef: number,
    gw: number,
    gwdot: number,
    n: number,
    C: number,
    spatial: number,
  ): void;
  sgd(
    p: number,
    vel: number,
    g0: number,
    s0: number,
    g1: number,
    s1: number,
    count: number,
    lr: number,
    mu: number,
    wd: number,
    nesterov: number,
  ): void;
  adam(
    p: number,
    m: number,
    v: number,
    g0: number,
    s0: number,
    g1: number,
    s1: number,
    count: number,
    lr: number,
    b1: number,
    b2: number,
    c1: number,
    c2: number,
    eps: number,
    wd: number,
    bc1: number,
    bc2: number,
  ): void;
  ssrSeeds(
    z: number,
    zdot: number,
    B: number,
    K: number,
    scale: number,
    classes: number,
    ceScale: number,
    g: number,
    gdot: number,
    lambda: number,
    ws: number,
  ): void;
  gatherRows(src: number, index: number, out: number, B: number, d: number): void;
  scatterRows(dst: number, index: number, rows: number, B: number, d: number): void;
  normalizeRows(v: number, out: number, rows: number, d: number): void;
  pgdStep(
    xadv: number,
    x: number,
    grad: number,
    out: number,
    count: number,
    eps: number,
    step: number,
    lo: number,
    hi: number,
  ): void;
  accumulateMetrics(z: number, classes: number, lambda: number, B: number, K: number, stats: number): void;
  checkFinite(t: number, count: number, flags: number, stage: number): void;
  head(
    kind: number,
    z: number,
    classes: number,
    zdot: number,
    B: number,
    K: number,
    scale: number,
    value: number,
    g: number,
    gdot: number,
    ws: number,
  ): void;
  philoxWords(c1: number, c2: number, c3: number, k0: number, k1: number, out: number, count: number): void;
  sampleInputs(
    noise: number,
    k0: number,
    k1: number,
    ids: number,
    params: number,
    given: number,
    ball: number,
    baseline: number,
    N: number,
    S: number,
    B: number,
    d: number,
    x: number,
    q0: number,
    len: number,
    out: number,
    b0: number,
    b1: number,
  ): void;
  ballFactors(
    noise: number,
    k0: number,
    k1: number,
    ids: number,
    params: number,
    N: number,
    B: number,
    d: number,
    out: number,
  ): void;
  channelSum(t: number, n: number, channels: number, spatial: number, out: number): void;
  sampleReduce(
    noise: number,
    k0: number,
    k1: number,
    ids: number,
    params: number,
    given: number,
    ball: number,
    baseline: number,
    N: number,
    S: number,
    B: number,
    d: number,
    x: number,
    grads: number,
    q0: number,
    len: number,
    stats: number,
    done: number,
    multiply: number,
    absolute: number,
    i0: number,
    i1: number,
  ): void;
}

function decodeBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const compiled: { single?: Promise<WebAssembly.Module>; shared?: Promise<WebAssembly.Module> } = {};

/**
 * Whether this engine validates relaxed SIMD: (module (func (param v128 v128 v128) (result v128)
 * f32x4.relaxed_madd of the three)). Node 20 does not without --experimental-wasm-relaxed-simd; Chrome 114+
 * and Firefox 146+ do. A module with relaxed instructions fails to compile where they do not validate, even
 * if never called, hence the separate builds.
 */
export function relaxedSimdSupported(): boolean {
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.validate !== 'function') return false;
  const probe = new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1, 32,
    2, 253, 133, 2, 11,
  ]);
  return WebAssembly.validate(probe);
}

/** Which build runs, for describe(): the relaxed-SIMD one (multiply-adds fused where the CPU can) when it validates. */
export function kernelVariant(): string {
  return relaxedSimdSupported()
    ? 'WebAssembly relaxed-SIMD kernels (f32x4.relaxed_madd multiply-adds)'
    : 'WebAssembly SIMD128 kernels (relaxed SIMD does not validate in this engine)';
}

/**
 * The kernels compiled once per process (WebAssembly.compile is asynchronous: browsers refuse large sync
 * compiles). `shared`: the build that imports a shared memory, for the thread pool. The relaxed-SIMD builds
 * where this engine validates them.
 */
export function kernelModule(shared = false): Promise<WebAssembly.Module> {
  const relaxed = relaxedSimdSupported();
  if (shared)
    return (compiled.shared ??= WebAssembly.compile(
      decodeBase64(relaxed ? KERNELS_RELAXED_SHARED_WASM_BASE64 : KERNELS_SHARED_WASM_BASE64) as BufferSource,
    ));
  return (compiled.single ??= WebAssembly.compile(
    decodeBase64(relaxed ? KERNELS_RELAXED_WASM_BASE64 : KERNELS_WASM_BASE64) as BufferSource,
  ));
}

/** Whether this engine validates WebAssembly SIMD128 (a v128.const probe). */
export function simdSupported(): boolean {
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.validate !== 'function') return false;
  // (module (func (result v128) v128.const i32x4 0 0 0 0))
  const probe = new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 11,
  ]);
  return WebAssembly.validate(probe);
}

export async function instantiateKernels(memory: WebAssembly.Memory, shared = false): Promise<KernelExports> {
  const instance = await WebAssembly.instantiate(await kernelModule(shared), {
    env: {
      memory,
      abort: () => {
        throw new Error('smoothgeo wasm kernel aborted');
      },
    },
  });
  return instance.exports as unknown as KernelExports;
}
