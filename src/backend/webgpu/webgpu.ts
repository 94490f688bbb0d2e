import type {
  ActivationKind, Backend, BlockCopy, BTensor, ChannelGeom, ConvGeom, DType, HeadKind, MatmulOptions, NoiseKind, PoolGeom, SamplePlan, SampleStats,
} from '../backend.js';
import { fail } from '../../errors.js';
import { shapeStr, sizeOf } from '../../tensor.js';
import { GpuContext, type Kernel } from './context.js';
import { section, type BindingDecl, type UniformValues } from './shader.js';
import gemmSrc from '../../../shaders/gemm.wgsl';
import convSrc from '../../../shaders/conv2d.wgsl';
import poolSrc from '../../../shaders/pool.wgsl';
import pointwiseSrc from '../../../shaders/pointwise.wgsl';
import lossSrc from '../../../shaders/loss.wgsl';
import reduceSrc from '../../../shaders/reduce.wgsl';
import philoxSrc from '../../../shaders/philox.wgsl';
import finiteSrc from '../../../shaders/finite.wgsl';
import batchNormSrc from '../../../shaders/batchnorm.wgsl';

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation of WebGPU (SwiftShader, llvmpipe/lavapipe, WARP): correct but slow. */
  software: boolean;
}

class GpuTensor implements BTensor {
  readonly size: number;
  constructor(readonly shape: readonly number[], readonly dtype: DType, readonly buffer: GPUBuffer, readonly label: string) {
    this.size = sizeOf(shape);
  }
}

const buf = (t: BTensor): GPUBuffer => (t as GpuTensor).buffer;
const u32 = (value: number) => ({ type: 'u32' as const, value });
const f32 = (value: number) => ({ type: 'f32' as const, value });
const NOISE_KIND: Record<NoiseKind, number> = { none: 0, gaussian: 1, cube: 2, ball: 3, given: 4 };
const PHILOX = section(philoxSrc, 'philox', 'philox.wgsl') + section(philoxSrc, 'noise', 'philox.wgsl');
const GATHERED = section(gemmSrc, 'gathered', 'gemm.wgsl');
const ACTIVATION_KIND: Record<ActivationKind, number> = { relu: 0, softplus: 1, tanh: 2, sigmoid: 3 };
const HEAD_KIND: Record<HeadKind, number> = { logit: 0, probability: 1, crossEntropy: 2, gaussNewton: 3 };

/**
 * How a GEMM of shape M×N×K runs: a deterministic function of the shape (never of the adapter), so every
 * device computes the same sums in the same order.
 *
 * Kernel (gemm.wgsl):
 *  - `main`, 64×64 tiles staged in workgroup memory, when M, N and K are all ≥ 64. Only there does a tile
 *    share each staged value among 16 threads across at least four K tiles, which is what GPUs need
 *    workgroup memory for. Each K tile costs two barriers, which some adapters pay dearly (SwiftShader:
 *    2 barriers per 32 k-steps made a naive 256³ GEMM 17× slower).
 *  - `direct` (no workgroup memory, no barrier) for everything else. A thin side (N ≤ 16, e.g. a conv with
 *    1–16 output channels, or M ≤ 4, a dense layer at batch 1) would leave most of a 64-wide tile idle,
 *    and with a short K or a narrow output the staged values are shared so little that the caches give the
 *    same reuse. Measured on SwiftShader, direct is 2–15× faster than the tiled kernel on every oracle
 *    LeNet/MLP GEMM (and ~1.6× on square 256–512, which stay tiled for GPUs' sake).
 * Thread blocks of `direct`: M ≤ 4: R_M = M rows × 4 columns (GEMV-like); else N ≤ 16: 4 rows × R_N ≤ 8
 * columns held along M (one or two column groups, so each gathered im2col value of A serves every
 * output channel of its group); else 4 rows × 4 columns.
 * Split-K (an extra dispatch and a partial buffer, so only when the K loop is long and the grid small):
 * tiled, when fewer than 128 tiles and K ≥ 512; direct, when fewer than 256 threads and K ≥ 4096 (conv
 * filter gradients at large batch), in chunks of at least 1024.
 */
interface GemmPlan {
  kernel: 'main' | 'direct';
  consts: Record<string, number | boolean>; // TILE_M/N/K, or R_M, R_N, ALONG_M
  splits: number;
  kChunk: number; // K range per split, a multiple of TILE_K (tiled) or of 4 (direct)
  blocks: [number, number]; // blocks of C along N and along M: tiles (tiled) or thread blocks (direct)
}

/** `vecBAlongN`: B is read as vec4 along N, so a thread's first column must be a multiple of 4. */
function gemmPlan(M: number, N: number, K: number, vecBAlongN: boolean): GemmPlan {
  // Split K into chunks of at least `chunkMin` (a multiple of `align`) when fewer than `minBlocks` blocks of C
  // would run a K loop of at least `minK`.
  const split = (blocks: number, minBlocks: number, minK: number, chunkMin: number, align: number) => {
    const splits = blocks < minBlocks && K >= minK ? Math.min(Math.ceil(minBlocks / blocks), Math.floor(K / chunkMin), 64) : 1;
    if (splits <= 1) return { splits: 1, kChunk: K };
    const kChunk = Math.ceil(Math.ceil(K / splits) / align) * align;
    return { splits: Math.ceil(K / kChunk), kChunk };
  };
  if (M >= 64 && N >= 64 && K >= 64) {
    const blocks: [number, number] = [Math.ceil(N / 64), Math.ceil(M / 64)];
    return { kernel: 'main', consts: { TILE_M: 64, TILE_N: 64, TILE_K: 16 }, blocks, ...split(blocks[0] * blocks[1], 128, 512, 256, 16) };
  }
  let R_M = 4, R_N = 4, ALONG_M = false;
  if (M <= 4) R_M = M;
  else if (N <= 16) {
    R_N = Math.ceil(N / Math.ceil(N / 8)); // one group of N ≤ 8 columns, or two even ones
    if (vecBAlongN) R_N = Math.ceil(R_N / 4) * 4;
    ALONG_M = true;
  }
  const blocks: [number, number] = [Math.ceil(N / R_N), Math.ceil(M / R_M)];
  return { kernel: 'direct', consts: { R_M, R_N, ALONG_M }, blocks, ...split(blocks[0] * blocks[1], 256, 4096, 1024, 4) };
}

/** How a GEMM variant reads and stores: its WGSL, bindings and geometry uniforms. */
interface GemmVariant {
  label: string;
  shapes: string;
  body: string; // loadA, loadB, storeC
  inputs: { name: string; t: BTensor; vec4?: boolean }[];
  bias: BTensor | null;
  out: GpuTensor;
  accumulate: boolean;
  aKFast: boolean;
  bKFast: boolean;
  vecA?: boolean;
  vecB?: boolean;
  geometry: UniformValues;
  consts?: Record<string, number | boolean>;
  M: number; N: number; K: number;
}

/** The WebGPU backend: each primitive records one or two dispatches into the context's open pass. */
export class WebGPUBackend implements Backend {
  readonly name = 'webgpu' as const;
  generation = 0;
  private ctx: GpuContext;
  private disposed = false;
  private recovering: Promise<void> | null = null;

  constructor(private gpu: GPU, private adapterInfo: AdapterSummary, device: GPUDevice, private readonly powerPreference?: GPUPowerPreference) {
    this.ctx = new GpuContext(device);
  }

  get adapter(): AdapterSummary { return this.adapterInfo; }
  get description(): string {
    const a = this.adapterInfo;
    return `WebGPU adapter ${[a.vendor, a.architecture, a.description].filter(Boolean).join(' / ')}${a.software ? ' (software)' : ''}`;
  }
  get device(): GPUDevice { return this.ctx.device; }
  /**
   * Device memory held now and at its peak: the buffer pool (storage and staging buffers) and the uniform
   * arena; `uniformBytes` is the arena's part (bounded: see ARENA_MAX_BLOCKS).
   */
  memory(): { allocatedBytes: number; peakBytes: number; uniformBytes: number } {
    return { allocatedBytes: this.ctx.pool.allocatedBytes, peakBytes: this.ctx.pool.peakBytes, uniformBytes: this.ctx.uniformBytes };
  }
  resetPeakMemory(): void {
    this.ctx.pool.peakBytes = this.ctx.pool.allocatedBytes;
  }
  get maxTensorBytes(): number {
    return Math.min(this.ctx.limits.maxStorageBufferBindingSize, this.ctx.limits.maxBufferSize);
  }

  /** Replaces a lost device (its buffers and pipelines are gone; models re-upload on the new generation). */
  async ensureDevice(): Promise<void> {
    if (this.disposed) fail('BACKEND_UNAVAILABLE', 'this engine was disposed; create a new one');
    if (!this.ctx.lost) return;
    // One recovery for every call that sees the loss: concurrent calls await the same new device.
    this.recovering ??= this.recover().finally(() => { this.recovering = null; });
    await this.recovering;
  }

  private async recover(): Promise<void> {
    const { device, info } = await openDevice(this.gpu, this.powerPreference);
    if (this.disposed) { device.destroy(); fail('BACKEND_UNAVAILABLE', 'this engine was disposed; create a new one'); }
    this.ctx.destroy(); // the lost device's pool and arena: free whatever the driver still tracks
    this.adapterInfo = info;
    this.ctx = new GpuContext(device);
    this.generation++;
  }

  /** Frees the pool's idle buffers; returns the bytes freed. */
  trim(): number {
    return this.ctx.pool.trim();
  }

  destroy(): void {
    this.disposed = true;
    this.ctx.destroy();
  }

  // ---- memory ----
  upload(data: ArrayLike<number>, shape: readonly number[], label: string): BTensor {
    const t = this.alloc(shape, label, 'f32', false);
    this.ctx.write(t.buffer, data instanceof Float32Array ? data : Float32Array.from(data));
    return t;
  }
  uploadIndices(data: ArrayLike<number>, shape: readonly number[], label: string): BTensor {
    const t = this.alloc(shape, label, 'i32', false);
    this.ctx.write(t.buffer, Int32Array.from(data));
    return t;
  }
  zeros(shape: readonly number[], label: string): BTensor {
    const t = this.alloc(shape, label);
    this.run('fill zeros', shapeStr(shape), section(pointwiseSrc, 'fill', 'pointwise.wgsl'),
      [rw('out', t)], { total: u32(t.size) }, {}, this.grid1d(t.size));
    return t;
  }
  release(...ts: (BTensor | null | undefined)[]): void {
    for (const t of ts) if (t) this.ctx.pool.release(buf(t));
  }
  async read(ts: readonly BTensor[]): Promise<Float32Array[]> {
    const raw = await this.ctx.read(ts.map((t) => ({ buffer: buf(t), bytes: t.size * 4 })));
    return raw.map((r) => new Float32Array(r));
  }

  /** Kernel outputs (gpuWritten) may reuse buffers released earlier in the same encoder; uploads may not. */
  private alloc(shape: readonly number[], label: string, dtype: DType = 'f32', gpuWritten = true): GpuTensor {
    const n = sizeOf(shape);
    return new GpuTensor([...shape], dtype, this.ctx.allocate(n * 4, `${label} ${shapeStr(shape)}`, gpuWritten), label);
  }

  private run(label: string, shapes: string, body: string, bindings: Kernel['bindings'], uniforms: UniformValues,
    consts: Record<string, number | boolean>, workgroups: [number, number, number]): void {
    this.ctx.dispatch({ label, shapes, body, bindings, uniforms, consts, workgroups });
  }

  /** Workgroups of `size` threads covering `total` items, folded into y past the per-dimension limit. */
  private grid1d(total: number, size = 256): [number, number, number] {
    const groups = Math.max(1, Math.ceil(total / size));
    const x = Math.min(groups, this.ctx.limits.maxComputeWorkgroupsPerDimension);
    return [x, Math.ceil(groups / x), 1];
  }

  // ---- GEMM family ----
  private gemm(v: GemmVariant): GpuTensor {
    const plan = gemmPlan(v.M, v.N, v.K, !!v.vecB && !v.bKFast);
    const { splits, kChunk } = plan;
    const uniforms: UniformValues = { M: u32(v.M), N: u32(v.N), K: u32(v.K), kChunk: u32(kChunk), splits: u32(splits), ...v.geometry };
    const partial = splits > 1 ? this.alloc([splits, v.M, v.N], `${v.label} split-K partials`) : null;
    const decl = (name: string, t: BTensor | null, access: BindingDecl['access'] = 'read', vec4 = false) =>
      ({ name, type: vec4 ? 'vec4f' as const : 'f32' as const, access, present: !!t, buffer: t ? buf(t) : null });
    const bindings = [
      ...v.inputs.map((i) => decl(i.name, i.t, 'read', i.vec4)),
      decl('bias', v.bias),
      decl('out', v.out, 'read_write'),
      decl('partial', partial, 'read_write'),
    ];
    const consts = { ...plan.consts, ...v.consts, A_K_FAST: v.aKFast, B_K_FAST: v.bKFast, VEC_A: !!v.vecA, VEC_B: !!v.vecB, SPLIT_K: splits > 1, HAS_BIAS: !!v.bias, ACCUMULATE: v.accumulate };
    // Tiled: one workgroup per 64×64 tile. Direct: one thread per block of C, in workgroups of 64.
    const [bn, bm] = plan.blocks;
    const [x, y] = plan.kernel === 'main' ? [bn, bm] : this.grid1d(bn * bm, 64);
    const epilogue = section(gemmSrc, 'epilogue', 'gemm.wgsl');
    this.run(splits > 1 ? `${v.label} (split-K ${splits})` : v.label, v.shapes, section(gemmSrc, plan.kernel, 'gemm.wgsl') + epilogue + v.body,
      bindings, uniforms, consts, [x, y, splits]);
    if (partial) {
      this.run(`${v.label} split-K sum`, v.shapes, section(gemmSrc, 'splitk', 'gemm.wgsl') + epilogue + v.body,
        bindings, uniforms, consts, this.grid1d(v.M * v.N));
      this.release(partial);
    }
    return v.out;
  }

  private output(into: BTensor | null | undefined, shape: readonly number[], label: string): { out: GpuTensor; accumulate: boolean } {
    if (into) {
      if (into.size !== sizeOf(shape)) throw new Error(`${label}: accumulator has ${into.size} values, expected ${sizeOf(shape)}`);
      return { out: into as GpuTensor, accumulate: true };
    }
    return { out: this.alloc(shape, label), accumulate: false };
  }

  matmul(a: BTensor, b: BTensor, o: MatmulOptions): BTensor {
    const [ar, ac] = [a.shape[0], a.size / a.shape[0]];
    const [br, bc] = [b.shape[0], b.size / b.shape[0]];
    const [M, K] = o.transA ? [ac, ar] : [ar, ac];
    const [K2, N] = o.transB ? [bc, br] : [br, bc];
    if (K !== K2) throw new Error(`${o.label}: inner dimensions ${K} and ${K2} differ`);
    const { out, accumulate } = this.output(o.into, [M, N], o.label);
    // vec4 loads along each operand's fast dimension when its length is a multiple of 4.
    const vecA = (o.transA ? M : K) % 4 === 0, vecB = (o.transB ? K : N) % 4 === 0;
    return this.gemm({
      label: `gemm ${o.label}`, shapes: `${o.transA ? 'Aᵀ' : 'A'}${shapeStr(a.shape)}·${o.transB ? 'Bᵀ' : 'B'}${shapeStr(b.shape)}`,
      body: operandReaders('a', 'A', vecA) + operandReaders('b', 'B', vecB) + section(gemmSrc, 'dense', 'gemm.wgsl'),
      consts: { TRANS_A: !!o.transA, TRANS_B: !!o.transB },
      inputs: [{ name: 'a', t: a, vec4: vecA }, { name: 'b', t: b, vec4: vecB }], bias: o.bias ?? null, out, accumulate,
      aKFast: !o.transA, bKFast: !!o.transB, vecA, vecB, geometry: {}, M, N, K,
    });
  }

  private convUniforms(g: ConvGeom): UniformValues {
    const u: UniformValues = {};
    for (const k of ['n', 'c', 'h', 'w', 'o', 'oh', 'ow'] as const) u[k] = u32(g[k]);
    return u;
  }
  /** Kernel size, stride and padding are compile-time constants in conv2d.wgsl (cheap divisions). */
  private convConsts(g: ConvGeom): Record<string, number> {
    return { KH: g.kh, KW: g.kw, SH: g.sh, SW: g.sw, PH: g.ph, PW: g.pw, DH: g.dh, DW: g.dw };
  }
  private convShapes(g: ConvGeom): string {
    return `x[${g.n}, ${g.c}, ${g.h}, ${g.w}] w[${g.o}, ${g.c / g.groups}, ${g.kh}, ${g.kw}] stride ${g.sh}×${g.sw} pad ${g.ph}×${g.pw} dilation ${g.dh}×${g.dw}${g.groups > 1 ? ` groups ${g.groups}` : ''}`;
  }

  /** One GEMM per group (one for groups = 1), each on its group's channels; they write disjoint parts of `out`. */
  private convGemm(g: ConvGeom, v: Omit<GemmVariant, 'geometry' | 'consts' | 'shapes'>): GpuTensor {
    const cg = g.c / g.groups, og = g.o / g.groups;
    for (let grp = 0; grp < g.groups; grp++) {
      this.gemm({ ...v, shapes: this.convShapes(g), consts: this.convConsts(g),
        geometry: { ...this.convUniforms(g), grp: u32(grp), cg: u32(cg), og: u32(og) } });
    }
    return v.out;
  }

  conv2d(x: BTensor, w: BTensor, bias: BTensor | null, g: ConvGeom, into?: BTensor | null): BTensor {
    const { out, accumulate } = this.output(into, [g.n, g.o, g.oh, g.ow], 'conv2d');
    return this.convGemm(g, {
      label: 'conv2d forward', body: section(convSrc, 'forward', 'conv2d.wgsl') + GATHERED,
      inputs: [{ name: 'x', t: x }, { name: 'wt', t: w }], bias, out, accumulate, aKFast: false, bKFast: true,
      M: g.n * g.oh * g.ow, N: g.o / g.groups, K: (g.c / g.groups) * g.kh * g.kw,
    });
  }

  conv2dBackwardInput(gy: BTensor, w: BTensor, g: ConvGeom, into?: BTensor | null): BTensor {
    const { out, accumulate } = this.output(into, [g.n, g.c, g.h, g.w], 'conv2d backward input');
    return this.convGemm(g, {
      label: 'conv2d backward input', body: section(convSrc, 'backward_input', 'conv2d.wgsl') + GATHERED,
      inputs: [{ name: 'gy', t: gy }, { name: 'wt', t: w }], bias: null, out, accumulate, aKFast: false, bKFast: true,
      M: g.n * g.h * g.w, N: g.c / g.groups, K: (g.o / g.groups) * g.kh * g.kw,
    });
  }

  conv2dBackwardFilter(gy: BTensor, x: BTensor, g: ConvGeom, into?: BTensor | null): BTensor {
    const { out, accumulate } = this.output(into, [g.o, g.c / g.groups, g.kh, g.kw], 'conv2d backward filter');
    return this.convGemm(g, {
      label: 'conv2d backward filter', body: section(convSrc, 'backward_filter', 'conv2d.wgsl') + GATHERED,
      inputs: [{ name: 'gy', t: gy }, { name: 'x', t: x }], bias: null, out, accumulate, aKFast: true, bKFast: true,
      M: g.o / g.groups, N: (g.c / g.groups) * g.kh * g.kw, K: g.n * g.oh * g.ow,
    });
  }

  channelSum(t: BTensor, channels: number, spatial: number, into?: BTensor | null): BTensor {
    const { out, accumulate } = this.output(into, [channels], 'channel sum');
    const n = t.size / (channels * spatial);
    this.run('channel sum', `${shapeStr(t.shape)} over ${channels} channels`, section(reduceSrc, 'channel_sum', 'reduce.wgsl'),
      [{ name: 't', type: 'f32', access: 'read', present: true, buffer: buf(t) },
        { name: 'out', type: 'f32', access: 'read_write', present: true, buffer: out.buffer }],
      { n: u32(n), channels: u32(channels), spatial: u32(spatial) }, { ACCUMULATE: accumulate }, [channels, 1, 1]);
    return out;
  }

  // ---- pooling ----
  private poolUniforms(g: PoolGeom, total: number): UniformValues {
    const u: UniformValues = { total: u32(total) };
    for (const k of ['h', 'w', 'kh', 'kw', 'sh', 'sw', 'ph', 'pw', 'oh', 'ow'] as const) u[k] = u32(g[k]);
    return u;
  }
  private poolKernel(name: string, g: PoolGeom, total: number, bindings: Kernel['bindings']): void {
    this.run(`pool ${name}`, `[${g.n}, ${g.c}, ${g.h}, ${g.w}] window ${g.kh}×${g.kw} stride ${g.sh}×${g.sw} pad ${g.ph}×${g.pw}`,
      section(poolSrc, 'ids', 'pool.wgsl') + section(poolSrc, 'common', 'pool.wgsl') + section(poolSrc, name, 'pool.wgsl'), bindings, this.poolUniforms(g, total),
      { COUNT_PAD: g.countIncludePad }, this.grid1d(total));
  }

  maxPool(x: BTensor, g: PoolGeom): { y: BTensor; argmax: BTensor } {
    const shape = [g.n, g.c, g.oh, g.ow];
    const y = this.alloc(shape, 'maxpool'), argmax = this.alloc(shape, 'maxpool argmax', 'i32');
    this.poolKernel('max_forward', g, y.size, [rd('x', x), rw('y', y), rw('argmax', argmax, 'i32')]);
    return { y, argmax };
  }
  checkFinite(t: BTensor, flags: BTensor, stage: number): void {
    this.run('check finite', `${t.label} ${shapeStr(t.shape)}`, section(finiteSrc, 'check', 'finite.wgsl'),
      [rd('t', t, t.dtype), rw('flags', flags, 'i32')], { total: u32(t.size), stage: u32(stage) }, {}, this.grid1d(t.size));
  }

  gather(src: BTensor, index: BTensor, label: string): BTensor {
    const y = this.alloc(index.shape, label);
    this.run('gather', `${shapeStr(src.shape)} at ${shapeStr(index.shape)}`, section(poolSrc, 'ids', 'pool.wgsl') + section(poolSrc, 'gather', 'pool.wgsl'),
      [rd('x', src), rd('index', index, 'i32'), rw('y', y)], { total: u32(y.size) }, {}, this.grid1d(y.size));
    return y;
  }
  maxPoolBackward(gy: BTensor, argmax: BTensor, g: PoolGeom): BTensor {
    const gx = this.alloc([g.n, g.c, g.h, g.w], 'maxpool backward');
    this.poolKernel('max_backward', g, gx.size, [rd('gy', gy), rd('argmax', argmax, 'i32'), rw('gx', gx)]);
    return gx;
  }
  avgPool(x: BTensor, g: PoolGeom): BTensor {
    const y = this.alloc([g.n, g.c, g.oh, g.ow], 'avgpool');
    this.poolKernel('avg_forward', g, y.size, [rd('x', x), rw('y', y)]);
    return y;
  }
  avgPoolBackward(gy: BTensor, g: PoolGeom): BTensor {
    const gx = this.alloc([g.n, g.c, g.h, g.w], 'avgpool backward');
    this.poolKernel('avg_backward', g, gx.size, [rd('gy', gy), rw('gx', gx)]);
    return gx;
  }

  copyBlocks(src: BTensor, g: BlockCopy, into: BTensor | null, shape: readonly number[], label: string): BTensor {
    const out = (into as GpuTensor | null) ?? this.alloc(shape, label);
    const total = g.n * g.length;
    this.run('copy blocks', `${g.n}×${g.length} from ${shapeStr(src.shape)} to ${shapeStr(out.shape)}`, section(pointwiseSrc, 'copy_blocks', 'pointwise.wgsl'),
      [rd('src', src), rw('dst', out)],
      { total: u32(total), length: u32(g.length), srcBlock: u32(g.srcBlock), srcOffset: u32(g.srcOffset), dstBlock: u32(g.dstBlock), dstOffset: u32(g.dstOffset) },
      {}, this.grid1d(total));
    return out;
  }

  // ---- batch normalization (shaders/batchnorm.wgsl) ----
  batchNormCoefficients(mean: BTensor, variance: BTensor, weight: BTensor, bias: BTensor, weightDot: BTensor | null, biasDot: BTensor | null, eps: number): BTensor {
    const C = mean.size, coef = this.alloc([6, C], 'batchnorm coefficients');
    this.run('batchnorm coefficients', `${C} channels`, section(batchNormSrc, 'coefficients', 'batchnorm.wgsl'),
      [rd('mean', mean), rd('variance', variance), rd('weight', weight), rd('bias', bias), opt('wdot', weightDot, 'read'), opt('bdot', biasDot, 'read'), rw('coef', coef)],
      { channels: u32(C), eps: f32(eps) }, { HAS_WDOT: !!weightDot, HAS_BDOT: !!biasDot }, [Math.ceil(C / 64), 1, 1]);
    return coef;
  }
  private bnBody(name: string): string {
    return section(batchNormSrc, 'common', 'batchnorm.wgsl') + section(batchNormSrc, name, 'batchnorm.wgsl');
  }
  private bnUniforms(g: ChannelGeom, total: number): UniformValues {
    return { total: u32(total), n: u32(g.n), channels: u32(g.channels), spatial: u32(g.spatial) };
  }
  batchNorm(x: BTensor, xdot: BTensor | null, coef: BTensor, g: ChannelGeom, paramTangents: boolean) {
    const y = this.alloc(x.shape, 'batchnorm'), ydot = xdot || paramTangents ? this.alloc(x.shape, 'batchnorm tangent') : null;
    this.run(`batchnorm forward${ydot ? '+tangent' : ''}`, shapeStr(x.shape), this.bnBody('forward'),
      [rd('x', x), opt('xdot', xdot, 'read'), rd('coef', coef), rw('y', y), opt('ydot', ydot, 'read_write')],
      this.bnUniforms(g, y.size), { HAS_XDOT: !!xdot, HAS_PDOT: paramTangents }, this.grid1d(y.size));
    return { y, ydot };
  }
  batchNormBackward(gy: BTensor, gydot: BTensor | null, coef: BTensor, g: ChannelGeom, paramTangents: boolean) {
    const gx = this.alloc(gy.shape, 'batchnorm backward'), gxdot = gydot || paramTangents ? this.alloc(gy.shape, 'batchnorm backward2') : null;
    this.run(`batchnorm backward${gxdot ? '2' : ''}`, shapeStr(gy.shape), this.bnBody('backward'),
      [rd('gy', gy), opt('gydot', gydot, 'read'), rd('coef', coef), rw('gx', gx), opt('gxdot', gxdot, 'read_write')],
      this.bnUniforms(g, gx.size), { HAS_GYDOT: !!gydot, HAS_PDOT: paramTangents }, this.grid1d(gx.size));
    return { gx, gxdot };
  }
  batchNormWeightGrad(x: BTensor, xdot: BTensor | null, gy: BTensor, gydot: BTensor | null, coef: BTensor, g: ChannelGeom) {
    const gw = this.alloc([g.channels], 'batchnorm weight gradient');
    const gwdot = xdot || gydot ? this.alloc([g.channels], 'batchnorm weight gradient tangent') : null;
    this.run('batchnorm weight gradient', shapeStr(x.shape), this.bnBody('weight_grad'),
      [rd('x', x), opt('xdot', xdot, 'read'), rd('gy', gy), opt('gydot', gydot, 'read'), rd('coef', coef), rw('gw', gw), opt('gwdot', gwdot, 'read_write')],
      this.bnUniforms(g, x.size), { HAS_XDOT: !!xdot, HAS_GYDOT: !!gydot }, [g.channels, 1, 1]);
    return { gw, gwdot };
  }

  // ---- pointwise ----
  add(a: BTensor, b: BTensor, label: string): BTensor {
    if (a.size !== b.size) throw new Error(`add: sizes differ (${a.shape} vs ${b.shape})`);
    const out = this.alloc(a.shape, label);
    this.run('add', shapeStr(a.shape), section(pointwiseSrc, 'add', 'pointwise.wgsl'),
      [rd('a', a), rd('b', b), rw('out', out)], { total: u32(out.size) }, {}, this.grid1d(out.size));
    return out;
  }

  activation(kind: ActivationKind, beta: number, z: BTensor, zdot: BTensor | null) {
    const y = this.alloc(z.shape, kind), ydot = zdot ? this.alloc(z.shape, `${kind} tangent`) : null;
    this.run(`${kind} forward${zdot ? '+tangent' : ''}`, shapeStr(z.shape),
      section(pointwiseSrc, 'common', 'pointwise.wgsl') + section(pointwiseSrc, 'forward', 'pointwise.wgsl'),
      [rd('z', z), opt('zdot', zdot, 'read'), rw('y', y), opt('ydot', ydot, 'read_write')],
      { total: u32(y.size), beta: f32(beta) }, { KIND: ACTIVATION_KIND[kind], HAS_TANGENT: !!zdot }, this.grid1d(y.size));
    return { y, ydot };
  }

  activationBackward(kind: ActivationKind, beta: number, z: BTensor, gy: BTensor, zdot: BTensor | null, gydot: BTensor | null) {
    const gz = this.alloc(z.shape, `${kind} backward`), gzdot = zdot || gydot ? this.alloc(z.shape, `${kind} backward2`) : null;
    this.run(`${kind} backward${gzdot ? '2' : ''}`, shapeStr(z.shape),
      section(pointwiseSrc, 'common', 'pointwise.wgsl') + section(pointwiseSrc, 'backward', 'pointwise.wgsl'),
      [rd('z', z), rd('gy', gy), opt('zdot', zdot, 'read'), opt('gydot', gydot, 'read'), rw('gz', gz), opt('gzdot', gzdot, 'read_write')],
      { total: u32(gz.size), beta: f32(beta) }, { KIND: ACTIVATION_KIND[kind], HAS_ZDOT: !!zdot, HAS_GYDOT: !!gydot }, this.grid1d(gz.size));
    return { gz, gzdot };
  }

  // ---- loss heads ----
  head(kind: HeadKind, z: BTensor, classes: BTensor, zdot: BTensor | null, scale: number) {
    const [B, K] = z.shape;
    if (kind === 'gaussNewton' && !zdot) throw new Error('gaussNewton head needs a tangent');
    const value = kind === 'gaussNewton' ? null : this.alloc([B], `head ${kind} value`);
    const g = this.alloc([B, K], `head ${kind} seed`);
    const gdot = zdot && (kind === 'probability' || kind === 'crossEntropy') ? this.alloc([B, K], `head ${kind} seed tangent`) : null;
    this.run(`head ${kind}`, shapeStr(z.shape), section(lossSrc, 'head', 'loss.wgsl'),
      [rd('z', z), rd('classes', classes, 'i32'), opt('zdot', zdot, 'read'), opt('value', value, 'read_write'), rw('g', g), opt('gdot', gdot, 'read_write')],
      { B: u32(B), K: u32(K), scale: f32(scale) }, { KIND: HEAD_KIND[kind], HAS_TANGENT: !!zdot }, [Math.ceil(B / 64), 1, 1]);
    return { value, g, gdot };
  }

  // ---- sampling (shaders/philox.wgsl, reduce.wgsl sample_reduce) ----
  /** The plan's bindings shared by the sampling kernels; absent ones become private placeholders. */
  private planBindings(p: SamplePlan, ballFactors: BTensor | null, ballAccess: 'read' | 'read_write' = 'read'): Kernel['bindings'] {
    return [
      rd('exampleIds', p.exampleIds, 'i32'), rd('planParams', p.params), opt('given', p.given, 'read'),
      opt('ballFactors', ballFactors, ballAccess), opt('baseline', p.baseline, 'read'),
    ];
  }
  private planUniforms(p: SamplePlan, B: number, d: number): UniformValues {
    return { key0: u32(p.key[0]), key1: u32(p.key[1]), B: u32(B), d: u32(d), N: u32(p.noiseSamples), S: u32(p.steps) };
  }
  private planConsts(p: SamplePlan): Record<string, number | boolean> {
    return { NOISE: NOISE_KIND[p.noise], HAS_BASELINE: !!p.baseline, MULTIPLY: p.multiply, ABSOLUTE: p.absolute };
  }

  ballFactors(plan: SamplePlan, d: number): BTensor {
    const B = plan.exampleIds.size;
    const out = this.alloc([B, plan.noiseSamples], 'ball factors');
    // Short inputs: one thread per (example, sample); long ones: a workgroup per pair reduces |z|² in parallel.
    const serial = d <= 1024;
    this.run('noise ball factors', `[${B}, ${plan.noiseSamples}] over d = ${d}`, PHILOX + section(philoxSrc, serial ? 'ball_factors_serial' : 'ball_factors', 'philox.wgsl'),
      this.planBindings(plan, out, 'read_write'), this.planUniforms(plan, B, d), this.planConsts(plan), this.grid1d(B * plan.noiseSamples, serial ? 64 : 1));
    return out;
  }

  sampleInputs(plan: SamplePlan, x: BTensor, q0: number, len: number, ballFactors: BTensor | null): BTensor {
    const B = x.shape[0], d = x.size / B;
    const out = this.alloc([B * len, ...x.shape.slice(1)], 'sample inputs');
    this.run(`sample inputs (${plan.noise})`, `x${shapeStr(x.shape)}, samples ${q0}…${q0 + len - 1}`, PHILOX + section(philoxSrc, 'sample_inputs', 'philox.wgsl'),
      [...this.planBindings(plan, ballFactors), rd('x', x), rw('out', out)],
      { ...this.planUniforms(plan, B, d), q0: u32(q0), len: u32(len) }, this.planConsts(plan), this.grid1d(B * len * Math.ceil(d / 4)));
    return out;
  }

  sampleReduce(plan: SamplePlan, x: BTensor, grads: BTensor, q0: number, len: number, ballFactors: BTensor | null, st: SampleStats, done: number): void {
    const B = x.shape[0], d = x.size / B;
    this.run('sample reduce', `x${shapeStr(x.shape)}, samples ${q0}…${q0 + len - 1}`, PHILOX + section(reduceSrc, 'sample_reduce', 'reduce.wgsl'),
      [...this.planBindings(plan, ballFactors), rd('x', x), rd('grads', grads), rw('stats', st)],
      { ...this.planUniforms(plan, B, d), q0: u32(q0), len: u32(len), done: u32(done) }, this.planConsts(plan), this.grid1d(B * d));
  }
}

/** elemX(i) and vecX(i) for a dense operand bound as array<f32> or array<vec4f>. */
function operandReaders(binding: string, X: string, vec4: boolean): string {
  return vec4
    ? `fn elem${X}(i: u32) -> f32 { return ${binding}[i / 4u][i % 4u]; }\nfn vec${X}(i: u32) -> vec4f { return ${binding}[i / 4u]; }\n`
    : `fn elem${X}(i: u32) -> f32 { return ${binding}[i]; }\nfn vec${X}(i: u32) -> vec4f { return vec4f(${binding}[i], ${binding}[i + 1u], ${binding}[i + 2u], ${binding}[i + 3u]); }\n`;
}

/** A binding of a tensor whose dtype must match the shader's element type. */
function bind(name: string, t: BTensor, type: 'f32' | 'i32', access: 'read' | 'read_write') {
  if (t.dtype !== type) throw new Error(`binding '${name}' expects ${type} but ${t.label} is ${t.dtype}`);
  return { name, type, access, present: true, buffer: buf(t) };
}
const rd = (name: string, t: BTensor, type: 'f32' | 'i32' = 'f32') => bind(name, t, type, 'read');
const rw = (name: string, t: BTensor, type: 'f32' | 'i32' = 'f32') => bind(name, t, type, 'read_write');
const opt = (name: string, t: BTensor | null, access: 'read' | 'read_write') =>
  t ? bind(name, t, 'f32', access) : { name, type: 'f32' as const, access, present: false, buffer: null };

function summarize(info: GPUAdapterInfo, isFallback: boolean): AdapterSummary {
  const s = { vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', description: info.description ?? '' };
  const software = isFallback || /swiftshader|llvmpipe|lavapipe|warp|software/i.test(Object.values(s).join(' '));
  return { ...s, software };
}

async function openDevice(gpu: GPU, powerPreference?: GPUPowerPreference) {
  const adapter = await gpu.requestAdapter(powerPreference ? { powerPreference } : undefined);
  if (!adapter) {
    fail('BACKEND_UNAVAILABLE', 'no WebGPU adapter: requestAdapter() returned null (on a machine without a GPU, install Debian chromium + libvulkan1 and set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json, as scripts/gpu-env.mjs does)');
  }
  // Ask for the adapter's own buffer limits: the defaults (128 MiB bindings) are far below most GPUs'.
  const requiredLimits: Record<string, number> = {};
  for (const k of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize'] as const) {
    requiredLimits[k] = adapter.limits[k];
  }
  const device = await adapter.requestDevice({ label: 'smoothgeo', requiredLimits });
  const info = summarize(adapter.info, (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true || (adapter.info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true);
  return { adapter, device, info };
}

/** Finds the WebGPU entry point (given, navigator.gpu, or npm `webgpu` in Node) and opens a device. */
export async function requestWebGPU(gpu?: GPU, powerPreference?: GPUPowerPreference): Promise<WebGPUBackend> {
  let entry = gpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!entry && typeof process !== 'undefined' && process.versions?.node) {
    try {
      const mod = await import('webgpu');
      entry = mod.create([]) as GPU;
    } catch (e) {
      fail('BACKEND_UNAVAILABLE', `no WebGPU in this Node process: loading npm package 'webgpu' (Dawn) failed: ${(e as Error).message}`);
    }
  }
  if (!entry) fail('BACKEND_UNAVAILABLE', 'no WebGPU here: navigator.gpu is undefined (a browser without WebGPU, or an insecure context)');
  const { device, info } = await openDevice(entry, powerPreference);
  return new WebGPUBackend(entry, info, device, powerPreference);
}
