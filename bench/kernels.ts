// Kernel-level benchmarks of smoothgeo internals that the public API does not expose (the tiled GEMM).
// bench/run.mjs bundles this file on the fly with esbuild into dist/bench-kernels.mjs and passes it the
// engine it made with the public bundle; only types come from ../src, the backend is the engine's own.
import type { Engine } from '../src/engine.js';
import type { Backend, BTensor } from '../src/backend/backend.js';
import { gemmPlan, type GemmKernel, type GemmPlanOptions } from '../src/backend/webgpu/gemm-plan.js';

/** A square GEMM C = A·B (n×n, row-major) prepared on the engine's backend: inputs are uploaded once. */
export interface GemmCase {
  n: number;
  /** Records `reps` GEMMs back to back (each into its own output), submits once and reads the last C back. */
  run(reps: number): Promise<Float32Array>;
  /** Frees the inputs. */
  release(): void;
}

export async function prepareGemm(engine: Engine, n: number, a: Float32Array, b: Float32Array): Promise<GemmCase> {
  if (a.length !== n * n || b.length !== n * n) throw new Error(`prepareGemm: inputs must hold ${n}×${n} values`);
  const be: Backend = await engine.backendForCall();
  const A = be.upload(a, [n, n], 'bench A');
  const B = be.upload(b, [n, n], 'bench B');
  // Flush the uploads (a readback of nothing submits what is recorded), so the first timed call does not pay for them.
  await be.read([]);
  return {
    n,
    async run(reps: number): Promise<Float32Array> {
      const outs: BTensor[] = [];
      try {
        for (let i = 0; i < reps; i++) outs.push(be.matmul(A, B, { label: `bench ${n}x${n} #${i}` }));
        const [c] = await be.read([outs[outs.length - 1]]);
        return c instanceof Float32Array ? c : Float32Array.from(c);
      } finally {
        be.release(...outs);
      }
    },
    release(): void {
      be.release(A, B);
    },
  };
}

/** conv2d geometry of an NCHW batch through a square kernel (PyTorch semantics). */
export interface ConvShape {
  n: number;
  c: number;
  hw: number;
  o: number;
  k: number;
  stride: number;
  pad: number;
}

/** The three conv2d passes prepared on the engine's backend (inputs uploaded once), each timed like GEMM. */
export interface ConvCase {
  /** 2·N·O·OH·OW·C·KH·KW: the multiply-adds of each pass, times two. */
  flops: number;
  label: string;
  /** Records `reps` of one pass back to back, submits once and reads the last result back. */
  run(pass: 'forward' | 'backwardInput' | 'backwardFilter', reps: number): Promise<Float32Array>;
  /** The bias gradient of the layer: Σ of ȳ over images and pixels, per output channel. */
  channelSum(): Promise<Float32Array>;
  release(): void;
}

export async function prepareConv(engine: Engine, s: ConvShape): Promise<ConvCase> {
  const be: Backend = await engine.backendForCall();
  const oh = Math.floor((s.hw + 2 * s.pad - s.k) / s.stride) + 1;
  const g = {
    n: s.n,
    c: s.c,
    h: s.hw,
    w: s.hw,
    o: s.o,
    kh: s.k,
    kw: s.k,
    sh: s.stride,
    sw: s.stride,
    ph: s.pad,
    pw: s.pad,
    dh: 1,
    dw: 1,
    groups: 1,
    oh,
    ow: oh,
  };
  const fill = (n: number, seed: number) =>
    Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);
  const x = be.upload(fill(s.n * s.c * s.hw * s.hw, 1), [s.n, s.c, s.hw, s.hw], 'bench conv x');
  const w = be.upload(fill(s.o * s.c * s.k * s.k, 2), [s.o, s.c, s.k, s.k], 'bench conv w');
  const gy = be.upload(fill(s.n * s.o * oh * oh, 3), [s.n, s.o, oh, oh], 'bench conv gy');
  await be.read([]);
  const record: Record<'forward' | 'backwardInput' | 'backwardFilter', () => BTensor> = {
    forward: () => be.conv2d(x, w, null, g),
    backwardInput: () => be.conv2dBackwardInput(gy, w, g),
    backwardFilter: () => be.conv2dBackwardFilter(gy, x, g),
  };
  return {
    flops: 2 * s.n * s.o * oh * oh * s.c * s.k * s.k,
    label: `x[${s.n}, ${s.c}, ${s.hw}, ${s.hw}] w[${s.o}, ${s.c}, ${s.k}, ${s.k}] stride ${s.stride} pad ${s.pad}`,
    async run(pass, reps) {
      const outs: BTensor[] = [];
      try {
        for (let i = 0; i < reps; i++) outs.push(record[pass]());
        const [c] = await be.read([outs[outs.length - 1]]);
        return c instanceof Float32Array ? c : Float32Array.from(c);
      } finally {
        be.release(...outs);
      }
    },
    async channelSum() {
      const out = be.channelSum(gy, s.o, oh * oh);
      try {
        const [c] = await be.read([out]);
        return c instanceof Float32Array ? c : Float32Array.from(c);
      } finally {
        be.release(out);
      }
    },
    release() {
      be.release(x, w, gy);
    },
  };
}

/** The device's limits and features (what the adapter granted smoothgeo's device). */
export async function deviceInfo(engine: Engine): Promise<{ limits: Record<string, number>; features: string[] }> {
  const be = (await engine.backendForCall()) as unknown as { device?: GPUDevice };
  if (!be.device) return { limits: {}, features: [] };
  const limits: Record<string, number> = {};
  for (const k of [
    'maxComputeWorkgroupsPerDimension',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupStorageSize',
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxStorageBuffersPerShaderStage',
    'minUniformBufferOffsetAlignment',
  ] as const)
    limits[k] = be.device.limits[k];
  return { limits, features: [...be.device.features].map(String).sort() };
}

/** A GEMM C[M,N] = A[M,K]·B[K,N] of any shape (the ResNet-18 layers' implicit GEMMs), timed like prepareGemm. */
export async function prepareGemmShape(
  engine: Engine,
  M: number,
  N: number,
  K: number,
): Promise<GemmCase & { flops: number }> {
  const be: Backend = await engine.backendForCall();
  const fill = (n: number, seed: number) =>
    Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);
  const A = be.upload(fill(M * K, 1), [M, K], 'bench A');
  const B = be.upload(fill(K * N, 2), [K, N], 'bench B');
  await be.read([]);
  return {
    n: M,
    flops: 2 * M * N * K,
    async run(reps: number): Promise<Float32Array> {
      const outs: BTensor[] = [];
      try {
        for (let i = 0; i < reps; i++) outs.push(be.matmul(A, B, { label: `bench ${M}x${N}x${K} #${i}` }));
        const [c] = await be.read([outs[outs.length - 1]]);
        return c instanceof Float32Array ? c : Float32Array.from(c);
      } finally {
        be.release(...outs);
      }
    },
    release(): void {
      be.release(A, B);
    },
  };
}

/** One profiled kernel: its label (kernel and split included), shapes and GPU ms. */
export interface KernelRow {
  label: string;
  shapes: string;
  ms: number;
}

/**
 * GPU time (timestamp queries) of each dispatch of a conv layer's passes at batch n: forward, backward-input,
 * backward-filter and the bias gradient's channel sum, one call each (after an untimed call that compiles).
 * Null with the reason when the adapter has no timestamps.
 */
export async function profileConvPasses(
  engine: Engine,
  s: ConvShape,
): Promise<{ label: string; kernels: KernelRow[] } | { label: string; unsupported: string }> {
  const cc = await prepareConv(engine, s);
  try {
    const passes = ['forward', 'backwardInput', 'backwardFilter', 'channelSum'] as const;
    const run = (pass: (typeof passes)[number]) => (pass === 'channelSum' ? cc.channelSum() : cc.run(pass, 1));
    for (const p of passes) await run(p);
    const kernels: KernelRow[] = [];
    for (const p of passes) {
      const prof = await engine.profile(() => run(p));
      if (!prof.supported) return { label: cc.label, unsupported: prof.reason };
      kernels.push(...prof.kernels);
    }
    return { label: cc.label, kernels };
  } finally {
    cc.release();
  }
}

/** Dispatches per submit inside a call (GpuContext.submitEvery; 0: one submit at the readback). */
export async function setSubmitEvery(engine: Engine, every: number): Promise<number> {
  const be = (await engine.backendForCall()) as unknown as { context?: { submitEvery: number } };
  if (!be.context) throw new Error('setSubmitEvery: not a webgpu engine');
  const was = be.context.submitEvery;
  be.context.submitEvery = every;
  return was;
}

/** The GEMM kernel every matmul and convolution runs (WebGPUBackend.gemmKernel; null: the planner's). */
export async function setGemmKernel(engine: Engine, kernel: GemmKernel | null): Promise<GemmKernel | null> {
  const be = (await engine.backendForCall()) as unknown as { gemmKernel?: GemmKernel | null; context?: unknown };
  if (!be.context) throw new Error('setGemmKernel: not a webgpu engine');
  const was = be.gemmKernel ?? null;
  be.gemmKernel = kernel;
  return was;
}

/** What a GEMM of this shape records on the engine's adapter: kernel, dispatches, workgroups and threads. */
export async function gemmDispatches(
  engine: Engine,
  M: number,
  N: number,
  K: number,
): Promise<{ kernel: GemmKernel; dispatches: number; workgroups: number; threads: number; splits: number }> {
  const be = (await engine.backendForCall()) as unknown as { gemmPlanOptions: GemmPlanOptions };
  const p = gemmPlan(M, N, K, N % 4 === 0, be.gemmPlanOptions);
  const wg =
    p.kernel === 'direct'
      ? Math.ceil((p.blocks[0] * p.blocks[1]) / p.workgroupSize) * p.splits
      : p.blocks[0] * p.blocks[1] * p.splits;
  return {
    kernel: p.kernel,
    dispatches: p.splits > 1 ? 2 : 1,
    workgroups: wg,
    threads: wg * p.workgroupSize,
    splits: p.splits,
  };
}

/**
 * Sets one of direct's plan options on a webgpu engine (null: the adapter's default): `stageWeights`, whether
 * direct stages convolution weights in workgroup memory (WebGPUBackend.stageWeights), or `groupColumns`, its
 * widest column group, 8 or 16 (WebGPUBackend.groupColumns).
 */
export async function setPlanOption<K extends keyof PlanOptionValues>(
  engine: Engine,
  option: K,
  value: PlanOptionValues[K],
): Promise<void> {
  const be = (await engine.backendForCall()) as unknown as Partial<PlanOptionValues> & { context?: unknown };
  if (!be.context) throw new Error('setPlanOption: not a webgpu engine');
  be[option] = value;
}
interface PlanOptionValues {
  stageWeights: boolean | null;
  groupColumns: 8 | 16 | null;
}
