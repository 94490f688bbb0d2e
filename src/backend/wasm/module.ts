import { KERNELS_SHARED_WASM_BASE64, KERNELS_WASM_BASE64 } from './kernels.generated.js';

/** The exports of kernels/index.ts: byte offsets and sizes in, nothing allocated. */
export interface KernelExports {
  HEAP_BASE: WebAssembly.Global;
  gemm(a: number, b: number, c: number, M: number, N: number, K: number, transA: number, transB: number, colBias: number, rowBias: number, ws: number): void;
  gemmWorkspaceBytes(M: number, N: number, K: number): number;
  conv2dForward(x: number, w: number, bias: number, y: number, ...geomAndWs: number[]): void;
  conv2dBackwardInput(gy: number, w: number, gx: number, ...geomAndWs: number[]): void;
  conv2dBackwardFilter(gy: number, x: number, gw: number, ...geomAndWs: number[]): void;
  convWorkspaceBytes(c: number, o: number, kh: number, kw: number, oh: number, ow: number): number;
  maxPool(x: number, y: number, argmax: number, nc: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, oh: number, ow: number): void;
  gather(src: number, index: number, out: number, count: number): void;
  scatterAdd(gy: number, index: number, gx: number, count: number): void;
  avgPool(x: number, y: number, nc: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, oh: number, ow: number): void;
  avgPoolBackward(gy: number, gx: number, nc: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, oh: number, ow: number): void;
  activation(kind: number, beta: number, z: number, zdot: number, y: number, ydot: number, count: number): void;
  activationBackward(kind: number, beta: number, z: number, gy: number, zdot: number, gydot: number, gz: number, gzdot: number, count: number): void;
  checkFinite(t: number, count: number, flags: number, stage: number): void;
  head(kind: number, z: number, classes: number, zdot: number, B: number, K: number, scale: number, value: number, g: number, gdot: number, ws: number): void;
  philoxWords(c1: number, c2: number, c3: number, k0: number, k1: number, out: number, count: number): void;
  sampleInputs(noise: number, k0: number, k1: number, ids: number, params: number, given: number, ball: number, baseline: number,
    N: number, S: number, B: number, d: number, x: number, q0: number, len: number, out: number): void;
  ballFactors(noise: number, k0: number, k1: number, ids: number, params: number, N: number, B: number, d: number, out: number): void;
  channelSum(t: number, n: number, channels: number, spatial: number, out: number): void;
  sampleReduce(noise: number, k0: number, k1: number, ids: number, params: number, given: number, ball: number, baseline: number,
    N: number, S: number, B: number, d: number, x: number, grads: number, q0: number, len: number, stats: number, done: number, multiply: number, absolute: number): void;
}

function decodeBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const compiled: { single?: Promise<WebAssembly.Module>; shared?: Promise<WebAssembly.Module> } = {};

/**
 * The kernels compiled once per process (WebAssembly.compile is asynchronous: browsers refuse large sync
 * compiles). `shared`: the build that imports a shared memory, for the thread pool.
 */
export function kernelModule(shared = false): Promise<WebAssembly.Module> {
  if (shared) return (compiled.shared ??= WebAssembly.compile(decodeBase64(KERNELS_SHARED_WASM_BASE64) as BufferSource));
  return (compiled.single ??= WebAssembly.compile(decodeBase64(KERNELS_WASM_BASE64) as BufferSource));
}

/** Whether this engine validates WebAssembly SIMD128 (a v128.const probe). */
export function simdSupported(): boolean {
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.validate !== 'function') return false;
  // (module (func (result v128) v128.const i32x4 0 0 0 0))
  const probe = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11]);
  return WebAssembly.validate(probe);
}

export async function instantiateKernels(memory: WebAssembly.Memory, shared = false): Promise<KernelExports> {
  const instance = await WebAssembly.instantiate(await kernelModule(shared), {
    env: { memory, abort: () => { throw new Error('smoothgeo wasm kernel aborted'); } },
  });
  return instance.exports as unknown as KernelExports;
}
