// The WebGPU backend: the Backend contract wired to a device context (context.ts) and the kernel families
// (kernels/). Each primitive records one or two dispatches into the context's open pass.
import type {
  ActivationKind,
  Backend,
  BinaryKind,
  BlockCopy,
  BroadcastGeom,
  BTensor,
  ChannelGeom,
  ConvGeom,
  DType,
  EpilogueActivation,
  HeadKind,
  MatmulOptions,
  MemoryUsage,
  PoolGeom,
  Profile,
  SamplePlan,
  SampleStats,
} from '../backend.js';
import { DEFAULT_CHUNK_BYTES } from '../backend.js';
import { fail } from '../../errors.js';
import { shapeStr, sizeOf } from '../../tensor.js';
import { BufferPool, GpuContext, SUBMIT_EVERY, type Dispatch, type ShaderDump } from './context.js';
import { shaderDump, type DumpShaders } from './debug.js';
import { findWebGPU, openDevice, type AdapterSummary } from './device.js';
import { gemmPlan, type GemmKernel, type GemmPlanOptions } from './gemm-plan.js';
import * as batchnorm from './kernels/batchnorm.js';
import * as broadcast from './kernels/broadcast.js';
import * as gemm from './kernels/gemm.js';
import * as loss from './kernels/loss.js';
import * as pointwise from './kernels/pointwise.js';
import * as pool from './kernels/pool.js';
import * as reduce from './kernels/reduce.js';
import { buf, GpuTensor, type Recorder } from './kernels/recorder.js';
import * as sampling from './kernels/sampling.js';
import * as finite from './kernels/finite.js';
import { trainPrimitives } from './kernels/train.js';

export type { AdapterSummary } from './device.js';

/** The largest default chunk budget on a hardware GPU (WebGPUBackend.chunkBytes). */
const MAX_GPU_CHUNK_BYTES = 512 * 1024 * 1024;

export interface WebGPUOptions {
  powerPreference?: GPUPowerPreference;
  /** Dump every composed shader with its key (see debug.ts; also SMOOTHGEO_DUMP_SHADERS). */
  dumpShaders?: DumpShaders;
  /** Run every GEMM on this kernel (see gemm-plan.ts); null or absent: the planner picks. */
  gemmKernel?: GemmKernel | null;
}

export class WebGPUBackend implements Backend, Recorder {
  readonly name = 'webgpu' as const;
  generation = 0;
  private ctx: GpuContext;
  private disposed = false;
  /** Training kernels (shaders/train.wgsl, kernels/train.ts). */
  readonly train = trainPrimitives(this);
  private recovering: Promise<void> | null = null;

  /** What the GEMM planner reads besides the shape (kernels/recorder.ts); rebuilt when either part changes. */
  gemmPlanOptions: GemmPlanOptions;

  constructor(
    private readonly gpu: GPU,
    private adapterInfo: AdapterSummary,
    device: GPUDevice,
    private readonly powerPreference?: GPUPowerPreference,
    private readonly dump: ShaderDump | null = null,
    gemmKernel: GemmKernel | null = null,
  ) {
    this.ctx = this.makeContext(device);
    this.gemmPlanOptions = { software: adapterInfo.software, force: gemmKernel };
  }

  /**
   * @internal The GEMM kernel every matmul and convolution runs (null: the planner's choice, the default).
   * Tests and benches compare kernels on one shape with it; the K partition, hence every sum, stays the
   * planner's except for kpar (gemm-plan.ts).
   */
  get gemmKernel(): GemmKernel | null {
    return this.gemmPlanOptions.force ?? null;
  }
  set gemmKernel(k: GemmKernel | null) {
    this.gemmPlanOptions = { ...this.gemmPlanOptions, force: k };
  }
  /** @internal Whether direct stages convolution weights in workgroup memory (null: the adapter's default). */
  set stageWeights(on: boolean | null) {
    this.gemmPlanOptions = { ...this.gemmPlanOptions, stageWeights: on };
  }
  /** @internal direct's widest column group, 8 or 16 (null: the default, 16; gemm-plan.ts directGroupColumns). */
  set groupColumns(cols: 8 | 16 | null) {
    this.gemmPlanOptions = { ...this.gemmPlanOptions, groupColumns: cols };
  }
  /** @internal Whether kpar's chunks are summed by the 64-lane tree (null: gemm-plan.ts kparTreeSum decides). */
  set chunkSumTree(on: boolean | null) {
    this.gemmPlanOptions = { ...this.gemmPlanOptions, chunkSumTree: on };
  }

  /**
   * A context for the device. Submits while recording on hardware GPUs, which run what is submitted while the
   * host records the rest; a software adapter shares the host's cores, and there one submit per call measured
   * 6–11% faster for LeNet SmoothGrad (bench:gpu --quick, submission section), so it keeps that.
   */
  private makeContext(device: GPUDevice): GpuContext {
    const ctx = new GpuContext(device, this.dump);
    ctx.submitEvery = this.adapterInfo.software ? 0 : SUBMIT_EVERY;
    return ctx;
  }

  get adapter(): AdapterSummary {
    return this.adapterInfo;
  }
  get description(): string {
    const a = this.adapterInfo;
    return `WebGPU adapter ${[a.vendor, a.architecture, a.description].filter(Boolean).join(' / ')}${a.software ? ' (software)' : ''}`;
  }
  /** @internal The device and its context, for tests and the bench. */
  get device(): GPUDevice {
    return this.ctx.device;
  }
  get context(): GpuContext {
    return this.ctx;
  }

  // ---- lifecycle ----
  /**
   * Device memory held now and at its peak: the buffer pool (storage and staging buffers) and the uniform
   * arena; `uniformBytes` is the arena's part (bounded: see ARENA_MAX_BLOCKS in context.ts).
   */
  memory(): MemoryUsage {
    return {
      allocatedBytes: this.ctx.pool.allocatedBytes,
      peakBytes: this.ctx.pool.peakBytes,
      uniformBytes: this.ctx.uniformBytes,
    };
  }
  resetPeakMemory(): void {
    this.ctx.pool.peakBytes = this.ctx.pool.allocatedBytes;
  }
  get maxTensorBytes(): number {
    return Math.min(this.ctx.limits.maxStorageBufferBindingSize, this.ctx.limits.maxBufferSize);
  }
  /**
   * Software adapters keep the 32 MiB measured on SwiftShader. A hardware GPU gets an eighth of its largest
   * buffer, within 32–512 MiB: fewer, larger chunks, so that each of a call's dispatches fills the GPU (not
   * measured on a GPU: none was at hand; `maxBytes` overrides it per call).
   */
  get chunkBytes(): number {
    if (this.adapterInfo.software) return DEFAULT_CHUNK_BYTES;
    return Math.min(MAX_GPU_CHUNK_BYTES, Math.max(DEFAULT_CHUNK_BYTES, Math.floor(this.maxTensorBytes / 8)));
  }

  /** Replaces a lost device (its buffers and pipelines are gone; models re-upload on the new generation). */
  async prepare(): Promise<void> {
    if (this.disposed) fail('BACKEND_UNAVAILABLE', 'this engine was disposed; create a new one');
    if (!this.ctx.lost) return;
    // One recovery for every call that sees the loss: concurrent calls await the same new device.
    this.recovering ??= this.recover().finally(() => {
      this.recovering = null;
    });
    await this.recovering;
  }

  private async recover(): Promise<void> {
    const { device, info } = await openDevice(this.gpu, this.powerPreference);
    if (this.disposed) {
      device.destroy();
      fail('BACKEND_UNAVAILABLE', 'this engine was disposed; create a new one');
    }
    this.ctx.destroy(); // the lost device's pool and arena: free whatever the driver still tracks
    this.adapterInfo = info;
    this.gemmPlanOptions = { ...this.gemmPlanOptions, software: info.software };
    this.ctx = this.makeContext(device);
    this.generation++;
  }

  async profile<T>(fn: () => Promise<T>): Promise<Profile<T>> {
    await this.prepare();
    if (!this.ctx.device.features.has('timestamp-query')) {
      const result = await fn();
      return {
        result,
        supported: false,
        reason: `the adapter (${this.description}) has no 'timestamp-query' feature`,
        kernels: [],
        totalMs: null,
      };
    }
    const ctx = this.ctx;
    ctx.startProfiling();
    let result: T;
    try {
      result = await fn();
    } catch (e) {
      ctx.stopProfiling();
      throw e;
    }
    const { times, untimed } = ctx.stopProfiling();
    const kernels = times.map((t) => ({ label: t.label, shapes: t.shapes, ms: t.ns / 1e6 }));
    return { result, supported: true, kernels, totalMs: kernels.reduce((s, k) => s + k.ms, 0), untimed };
  }

  /** Frees the pool's idle buffers; returns the bytes freed. */
  trim(): number {
    return this.ctx.pool.trim();
  }

  dispose(): void {
    this.disposed = true;
    this.ctx.destroy();
  }

  // ---- memory ----
  upload(data: ArrayLike<number>, shape: readonly number[], label: string): BTensor {
    const t = this.allocTensor(shape, label, 'f32', false);
    this.ctx.write(t.buffer, data instanceof Float32Array ? data : Float32Array.from(data));
    return t;
  }
  uploadIndices(data: ArrayLike<number>, shape: readonly number[], label: string): BTensor {
    const t = this.allocTensor(shape, label, 'i32', false);
    this.ctx.write(t.buffer, Int32Array.from(data));
    return t;
  }
  zeros(shape: readonly number[], label: string): BTensor {
    return pointwise.zeros(this, shape, label);
  }
  bufferBytes(bytes: number): number {
    return BufferPool.sizeClass(bytes);
  }
  gemmScratchBytes(M: number, N: number, K: number): number {
    // Split-K is a function of the shape alone (gemm-plan.ts); vec4 loads change thread blocks, not splits.
    const { splits } = gemmPlan(M, N, K, false, this.gemmPlanOptions);
    return splits > 1 ? BufferPool.sizeClass(4 * splits * M * N) : 0;
  }
  release(...ts: (BTensor | null | undefined)[]): void {
    for (const t of ts) if (t) this.ctx.pool.release(buf(t));
  }
  async read(ts: readonly BTensor[]): Promise<Float32Array[]> {
    const raw = await this.ctx.read(ts.map((t) => ({ buffer: buf(t), bytes: t.size * 4 })));
    return raw.map((r) => new Float32Array(r));
  }

  // ---- Recorder (for the kernel families) ----
  /** Kernel outputs may reuse buffers released earlier in the same encoder; uploads may not (context.ts). */
  alloc(shape: readonly number[], label: string, dtype: DType = 'f32'): GpuTensor {
    return this.allocTensor(shape, label, dtype, true);
  }
  output(
    into: BTensor | null | undefined,
    shape: readonly number[],
    label: string,
  ): { out: GpuTensor; accumulate: boolean } {
    if (into) {
      if (into.size !== sizeOf(shape))
        throw new Error(`${label}: accumulator has ${into.size} values, expected ${sizeOf(shape)}`);
      return { out: into as GpuTensor, accumulate: true };
    }
    return { out: this.alloc(shape, label), accumulate: false };
  }
  run(d: Dispatch): void {
    this.ctx.dispatch(d);
  }
  grid1d(total: number, size: number): [number, number, number] {
    const groups = Math.max(1, Math.ceil(total / size));
    const x = Math.min(groups, this.ctx.limits.maxComputeWorkgroupsPerDimension);
    return [x, Math.ceil(groups / x), 1];
  }
  private allocTensor(shape: readonly number[], label: string, dtype: DType, gpuWritten: boolean): GpuTensor {
    const n = sizeOf(shape);
    return new GpuTensor([...shape], dtype, this.ctx.allocate(n * 4, `${label} ${shapeStr(shape)}`, gpuWritten), label);
  }

  // ---- kernel primitives (kernels/*.ts) ----
  matmul(a: BTensor, b: BTensor, o: MatmulOptions): BTensor {
    return gemm.matmul(this, a, b, o).z;
  }
  conv2d(x: BTensor, w: BTensor, bias: BTensor | null, g: ConvGeom, into?: BTensor | null): BTensor {
    return gemm.conv2d(this, x, w, bias, g, into).z;
  }
  matmulActivated(a: BTensor, b: BTensor, o: MatmulOptions, act: EpilogueActivation) {
    const r = gemm.matmul(this, a, b, o, act);
    return { z: r.z, a: r.a! };
  }
  conv2dActivated(
    x: BTensor,
    w: BTensor,
    bias: BTensor | null,
    g: ConvGeom,
    act: EpilogueActivation,
    into?: BTensor | null,
  ) {
    const r = gemm.conv2d(this, x, w, bias, g, into, act);
    return { z: r.z, a: r.a! };
  }
  conv2dBackwardInput(gy: BTensor, w: BTensor, g: ConvGeom, into?: BTensor | null): BTensor {
    return gemm.conv2dBackwardInput(this, gy, w, g, into);
  }
  conv2dBackwardFilter(gy: BTensor, x: BTensor, g: ConvGeom, into?: BTensor | null): BTensor {
    return gemm.conv2dBackwardFilter(this, gy, x, g, into);
  }
  channelSum(t: BTensor, channels: number, spatial: number, into?: BTensor | null): BTensor {
    return reduce.channelSum(this, t, channels, spatial, into);
  }
  maxPool(x: BTensor, g: PoolGeom): { y: BTensor; argmax: BTensor } {
    return pool.maxPool(this, x, g);
  }
  gather(src: BTensor, index: BTensor, label: string): BTensor {
    return pool.gather(this, src, index, label);
  }
  maxPoolBackward(gy: BTensor, argmax: BTensor, g: PoolGeom): BTensor {
    return pool.maxPoolBackward(this, gy, argmax, g);
  }
  avgPool(x: BTensor, g: PoolGeom): BTensor {
    return pool.avgPool(this, x, g);
  }
  avgPoolBackward(gy: BTensor, g: PoolGeom): BTensor {
    return pool.avgPoolBackward(this, gy, g);
  }
  add(a: BTensor, b: BTensor, label: string): BTensor {
    return pointwise.add(this, a, b, label);
  }
  broadcastBinary(kind: BinaryKind, a: BTensor, b: BTensor, g: BroadcastGeom, label: string): BTensor {
    return broadcast.broadcastBinary(this, kind, a, b, g, label);
  }
  sumTo(t: BTensor, from: readonly number[], to: readonly number[], scale: number, label: string): BTensor {
    return broadcast.sumTo(this, t, from, to, scale, label);
  }
  copyBlocks(src: BTensor, g: BlockCopy, into: BTensor | null, shape: readonly number[], label: string): BTensor {
    return pointwise.copyBlocks(this, src, g, into, shape, label);
  }
  batchNormCoefficients(
    mean: BTensor,
    variance: BTensor,
    weight: BTensor,
    bias: BTensor,
    weightDot: BTensor | null,
    biasDot: BTensor | null,
    eps: number,
  ): BTensor {
    return batchnorm.coefficients(this, mean, variance, weight, bias, weightDot, biasDot, eps);
  }
  batchNorm(x: BTensor, xdot: BTensor | null, coef: BTensor, g: ChannelGeom, paramTangents: boolean) {
    return batchnorm.forward(this, x, xdot, coef, g, paramTangents);
  }
  batchNormBackward(gy: BTensor, gydot: BTensor | null, coef: BTensor, g: ChannelGeom, paramTangents: boolean) {
    return batchnorm.backward(this, gy, gydot, coef, g, paramTangents);
  }
  batchNormWeightGrad(
    x: BTensor,
    xdot: BTensor | null,
    gy: BTensor,
    gydot: BTensor | null,
    coef: BTensor,
    g: ChannelGeom,
  ) {
    return batchnorm.weightGrad(this, x, xdot, gy, gydot, coef, g);
  }
  checkFinite(t: BTensor, flags: BTensor, stage: number): void {
    finite.checkFinite(this, t, flags, stage);
  }
  activation(kind: ActivationKind, beta: number, z: BTensor, zdot: BTensor | null) {
    return pointwise.activation(this, kind, beta, z, zdot);
  }
  activationBackward(
    kind: ActivationKind,
    beta: number,
    z: BTensor,
    gy: BTensor,
    zdot: BTensor | null,
    gydot: BTensor | null,
  ) {
    return pointwise.activationBackward(this, kind, beta, z, gy, zdot, gydot);
  }
  head(kind: HeadKind, z: BTensor, classes: BTensor, zdot: BTensor | null, scale: number) {
    return loss.head(this, kind, z, classes, zdot, scale);
  }

  // ---- sampling kernels (kernels/sampling.ts) ----
  ballFactors(plan: SamplePlan, d: number): BTensor {
    return sampling.ballFactors(this, plan, d);
  }
  sampleInputs(plan: SamplePlan, x: BTensor, q0: number, len: number, ballFactors: BTensor | null): BTensor {
    return sampling.sampleInputs(this, plan, x, q0, len, ballFactors);
  }
  sampleReduce(
    plan: SamplePlan,
    x: BTensor,
    grads: BTensor,
    q0: number,
    len: number,
    ballFactors: BTensor | null,
    st: SampleStats,
    done: number,
  ): void {
    sampling.sampleReduce(this, plan, x, grads, q0, len, ballFactors, st, done);
  }
}

/** Finds the WebGPU entry point (given, navigator.gpu, or npm `webgpu` in Node) and opens a device. */
export async function requestWebGPU(gpu?: GPU, options: WebGPUOptions = {}): Promise<WebGPUBackend> {
  const entry = await findWebGPU(gpu);
  const { device, info } = await openDevice(entry, options.powerPreference);
  return new WebGPUBackend(
    entry,
    info,
    device,
    options.powerPreference,
    await shaderDump(options.dumpShaders),
    options.gemmKernel ?? null,
  );
}
