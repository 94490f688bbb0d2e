import type {
  ActivationKind,
  Backend,
  BinaryKind,
  BroadcastGeom,
  BlockCopy,
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
import { LIMITS } from '../../limits.js';
import { shapeStr, sizeOf } from '../../tensor.js';
import { checkBroadcastGeom, sumToPlan } from '../broadcast.js';
import { Arena } from './arena.js';
import { instantiateKernels, kernelModule, kernelVariant, simdSupported, type KernelExports } from './module.js';
import { MAX_CHUNKS, planThreads, ThreadPool } from './threads.js';
import { wasmTrainPrimitives } from './train.js';

/** A tensor in the backend's linear memory: `offset` bytes from its start, float32 or int32 values. */
export class WasmTensor implements BTensor {
  readonly size: number;
  constructor(
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly offset: number,
    readonly label: string,
  ) {
    this.size = sizeOf(shape);
  }
}

const ACTIVATIONS: Record<ActivationKind, number> = { relu: 0, softplus: 1, tanh: 2, sigmoid: 3 };
const BINARY: Record<BinaryKind, number> = { add: 0, sub: 1, mul: 2, div: 3 };
const HEADS: Record<HeadKind, number> = { logit: 0, probability: 1, crossEntropy: 2, gaussNewton: 3 };
const NOISE = { none: 0, gaussian: 1, cube: 2, ball: 3, given: 4 } as const;
const PAGE = 65536;
/** Kernels the thread pool may run (by name, the same list in every worker). */
const PARALLEL_KERNELS = [
  'gemmPanel',
  'conv2dForward',
  'conv2dBackwardInput',
  'conv2dBackwardFilter',
  'activation',
  'activationBackward',
  'activationTangent',
  'sampleInputs',
  'sampleReduce',
  'maxPool',
  'scatterAdd',
  'avgPool',
  'avgPoolBackward',
] as const;
/**
 * Work is counted in GEMM multiply-adds of one thread's time (~0.1 ns each with SIMD128); other kernels
 * convert by their measured cost (bench/wasm-profile.mjs: an activation with exp ≈ 40 per element, relu ≈ 6).
 * A fork-join round trip costs ~10 µs on an idle machine (a sleeping worker's wake-up); split only work of
 * ≥ 5·10⁵ (≥ ~50 µs on one thread).
 */
const MIN_PARALLEL_WORK = 500_000;
/**
 * Chunks of a parallel kernel: up to this many per thread, so that a thread that starts late (a sleeping
 * worker's wake-up) or stalls leaves only its current chunk to wait for, and each worth ≥ MIN_CHUNK_WORK
 * (~10 µs), so the per-chunk call (a few µs at most) stays small.
 */
const CHUNKS_PER_THREAD = 8;
const MIN_CHUNK_WORK = 250_000;
/**
 * Backward filter sums its batch in at most this many chunks of examples, fixed by the batch size alone
 * (12 splits evenly over 1, 2, 3, 4 or 6 threads); each chunk's partial gradient is summed in chunk order.
 */
const FILTER_CHUNKS = 12;
/** …and in fewer when the partials (one filter gradient a chunk) would pass this many bytes. */
const FILTER_PARTIAL_BYTES = 8 << 20;
/** A thread's v128 accumulators (16 bytes a weight) for one block of output channels stay within ~L2. */
const FILTER_ACC_BYTES = 256 << 10;

/** Work units (see MIN_PARALLEL_WORK) of an activation kernel over `count` elements. */
const activationWork = (kind: ActivationKind, count: number): number => count * (kind === 'relu' ? 6 : 40);

export function wt(t: BTensor, dtype: DType = 'f32'): WasmTensor {
  if (!(t instanceof WasmTensor)) throw new Error(`${t.label}: not a tensor of the wasm backend`);
  if (t.dtype !== dtype)
    throw new Error(`${t.label}: expected ${dtype === 'f32' ? 'a float' : 'an index'} tensor, got ${t.dtype}`);
  return t;
}
export const off = (t: BTensor | null | undefined, dtype: DType = 'f32'): number => (t ? wt(t, dtype).offset : 0);

/**
 * The WebAssembly backend: float32 tensors in one linear memory, kernels from kernels/*.ts (AssemblyScript,
 * SIMD128). Every primitive is one synchronous call into the module on the whole batch; activations stay in
 * wasm memory between calls and `read` copies results out once.
 */
export class WasmBackend implements Backend {
  readonly name = 'wasm' as const;
  readonly description: string;
  readonly maxTensorBytes = LIMITS.wasmTensorBytes;
  /** The 32 MiB every backend used before the budget became the backend's (sampling chunks). */
  readonly chunkBytes = DEFAULT_CHUNK_BYTES;
  /** No device to lose: the generation never changes. */
  readonly generation = 0;
  /** Training kernels (kernels/train.ts). */
  readonly train = wasmTrainPrimitives(this);
  private disposed = false;
  private f32view: Float32Array;
  private i32view: Int32Array;

  private constructor(
    /** @internal The kernel module's exports (for the training primitives and tests). */
    readonly k: KernelExports,
    private readonly arena: Arena,
    private readonly mem: WebAssembly.Memory,
    private readonly pool: ThreadPool | null,
    threadNote: string,
  ) {
    const n = pool?.size ?? 1;
    this.description = `${kernelVariant()}, AssemblyScript, ${n} thread${n > 1 ? 's' : ''}${threadNote}`;
    this.f32view = new Float32Array(mem.buffer);
    this.i32view = new Int32Array(mem.buffer);
  }

  /** Compiles (once per process) and instantiates the kernels on a fresh memory, then warms them up. */
  static async create(threads?: number): Promise<WasmBackend> {
    if (!simdSupported())
      fail('BACKEND_UNAVAILABLE', 'wasm: this JavaScript engine does not validate WebAssembly SIMD128');
    const maxBytes = LIMITS.wasmMemoryBytes;
    const { threads: want, cores, note } = await planThreads(threads);
    const shared = want > 1;
    const memory = new WebAssembly.Memory({ initial: 32, maximum: maxBytes / PAGE, shared });
    const k = await instantiateKernels(memory, shared);
    const pool = shared
      ? await ThreadPool.create(want, cores, await kernelModule(true), memory, [...PARALLEL_KERNELS])
      : null;
    const over =
      want > cores ? ` (more than the ${cores} core${cores > 1 ? 's' : ''}: idle threads sleep at once)` : '';
    const be = new WasmBackend(k, new Arena(memory, Number(k.HEAP_BASE.value), maxBytes), memory, pool, note + over);
    be.warmUp();
    return be;
  }

  /** Stops the worker threads; the backend cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.pool?.dispose();
  }

  /** Nothing to recover (no device to lose); refuses once disposed. Wakes the workers for the call ahead. */
  async prepare(): Promise<void> {
    if (this.disposed) fail('BACKEND_UNAVAILABLE', 'this engine was disposed; create a new one');
    this.pool?.wake();
  }

  async profile<T>(fn: () => Promise<T>): Promise<Profile<T>> {
    const result = await fn();
    return {
      result,
      supported: false,
      reason: 'the wasm backend has no per-kernel timer (its kernels run synchronously on the CPU)',
      kernels: [],
      totalMs: null,
    };
  }

  /**
   * Bytes of the linear memory in live tensors now, and the most since the last reset. Freed ranges stay
   * in the arena for reuse (a WebAssembly memory cannot shrink), so trim() frees nothing.
   */
  memory(): MemoryUsage {
    return { allocatedBytes: this.arena.inUse, peakBytes: this.arena.peak, uniformBytes: 0 };
  }
  trim(): number {
    return 0;
  }

  /** Threads in use, the caller's included. */
  get threads(): number {
    return this.pool?.size ?? 1;
  }

  /**
   * Runs `name` over `total` items split into one contiguous range per thread (boundaries multiples of
   * `align`), when there is a pool and `work` (about the multiply-adds) pays for the fork; else in one call.
   * `args(lo, hi, t)` gives thread t's arguments.
   */
  private parallel(
    name: (typeof PARALLEL_KERNELS)[number],
    total: number,
    work: number,
    align: number,
    args: (lo: number, hi: number, t: number) => number[],
  ): void {
    const fn = (this.k as unknown as Record<string, (...a: number[]) => void>)[name];
    const threads = this.pool && work >= MIN_PARALLEL_WORK ? Math.min(this.pool.size, Math.floor(total / align)) : 1;
    if (threads <= 1) {
      fn(...args(0, total, 0));
      return;
    }
    // A few chunks per thread, each worth a fork (MIN_CHUNK_WORK), claimed by whichever thread is free.
    const units = Math.ceil(total / align);
    const want = Math.min(
      MAX_CHUNKS,
      units,
      threads * CHUNKS_PER_THREAD,
      Math.max(threads, Math.floor(work / MIN_CHUNK_WORK)),
    );
    const per = Math.ceil(units / want) * align;
    this.pool!.run(name, Math.ceil(total / per), (c, t) => args(c * per, Math.min(total, (c + 1) * per), t), fn);
  }

  /** Runs the hot kernels a few times on small shapes so V8 tiers them up before the first real call. */
  private warmUp(): void {
    for (let i = 0; i < 3; i++) {
      const a = this.upload(new Float32Array(64).fill(0.5), [8, 8], 'warm-up a');
      const c = this.matmul(a, a, { label: 'warm-up', transB: true });
      const g: ConvGeom = {
        n: 1,
        c: 1,
        h: 8,
        w: 8,
        o: 1,
        kh: 3,
        kw: 3,
        sh: 1,
        sw: 1,
        ph: 1,
        pw: 1,
        dh: 1,
        dw: 1,
        groups: 1,
        oh: 8,
        ow: 8,
      };
      const x = this.upload(new Float32Array(64).fill(0.25), [1, 1, 8, 8], 'warm-up x');
      const w = this.upload(new Float32Array(9).fill(1), [1, 1, 3, 3], 'warm-up w');
      const y = this.conv2d(x, w, null, g);
      const gx = this.conv2dBackwardInput(y, w, g);
      const gw = this.conv2dBackwardFilter(y, x, g);
      this.release(a, c, x, w, y, gx, gw);
    }
  }

  /** Bytes of linear memory the arena has handed out, free ranges included (tests, bench). */
  get reservedBytes(): number {
    return this.arena.reserved;
  }

  resetPeakMemory(): void {
    this.arena.peak = this.arena.inUse;
  }

  private views(): void {
    if (this.f32view.buffer !== this.mem.buffer) {
      this.f32view = new Float32Array(this.mem.buffer);
      this.i32view = new Int32Array(this.mem.buffer);
    }
  }

  /** @internal */
  alloc(shape: readonly number[], label: string, dtype: DType = 'f32', zero = true): WasmTensor {
    const bytes = 4 * sizeOf(shape);
    if (bytes > this.maxTensorBytes) {
      fail(
        'LIMIT_EXCEEDED',
        `${label} ${shapeStr(shape)} needs ${bytes} bytes, more than the wasm backend holds in one tensor (${this.maxTensorBytes} bytes, LIMITS.wasmTensorBytes); use a smaller batch or model`,
      );
    }
    const t = new WasmTensor(
      [...shape],
      dtype,
      this.arena.alloc(bytes, () => `${label} ${shapeStr(shape)}`),
      label,
    );
    this.views();
    if (zero) this.f32view.fill(0, t.offset >> 2, (t.offset >> 2) + t.size);
    return t;
  }

  /** Scratch bytes for one kernel call; freed right after it (calls are synchronous). */
  /** @internal */
  withWorkspace<T>(bytes: number, label: string, fn: (ws: number) => T): T {
    const at = this.arena.alloc(bytes, () => `${label} workspace`);
    try {
      return fn(at);
    } finally {
      this.arena.release(at, bytes);
    }
  }

  /** Returns `into` to accumulate in, or a fresh zero tensor. */
  private target(into: BTensor | null | undefined, shape: readonly number[], label: string): WasmTensor {
    if (into) {
      if (into.size !== sizeOf(shape))
        throw new Error(`${label}: accumulator has ${into.size} values, expected ${sizeOf(shape)}`);
      return wt(into);
    }
    return this.alloc(shape, label);
  }

  upload(data: ArrayLike<number>, shape: readonly number[], label: string): BTensor {
    const t = this.alloc(shape, label, 'f32', false);
    this.f32view.set(data, t.offset >> 2);
    return t;
  }
  uploadIndices(data: ArrayLike<number>, shape: readonly number[], label: string): BTensor {
    const t = this.alloc(shape, label, 'i32', false);
    this.i32view.set(data, t.offset >> 2);
    return t;
  }
  zeros(shape: readonly number[], label: string): BTensor {
    return this.alloc(shape, label);
  }
  release(...ts: (BTensor | null | undefined)[]): void {
    for (const t of ts) if (t) this.arena.release(wt(t, t.dtype).offset, 4 * t.size);
  }
  /** Copies: float tensors as float32, index tensors as their int32 bits in a Float32Array (as webgpu reads them). */
  async read(ts: readonly BTensor[]): Promise<Float32Array[]> {
    this.views();
    return ts.map((t) => this.f32view.slice(wt(t, t.dtype).offset >> 2, (wt(t, t.dtype).offset >> 2) + t.size));
  }

  checkFinite(t: BTensor, flags: BTensor, stage: number): void {
    this.k.checkFinite(off(t), t.size, off(flags, 'i32'), stage);
  }

  matmul(a: BTensor, b: BTensor, o: MatmulOptions): BTensor {
    return this.gemm(a, b, o, null).z;
  }

  /**
   * op(A)·op(B) (+ bias, + into), and with `act` its activation applied per 4-row panel while the panel is in
   * cache (a = σ(z), or with act.z a = σ′(act.z)·z). A and B are packed once into a workspace the threads
   * share (column panels pack their own columns of B, in parallel); the threads take row panels (multiples
   * of 4) or column panels (multiples of the kernel's 8 columns), whichever gives the most even split, so
   * every element gets the instructions of one thread.
   */
  private gemm(a: BTensor, b: BTensor, o: MatmulOptions, act: EpilogueActivation | null) {
    const [ar, ac] = a.shape.length === 2 ? a.shape : [a.shape[0], a.size / a.shape[0]];
    const [br, bc] = b.shape.length === 2 ? b.shape : [b.shape[0], b.size / b.shape[0]];
    const [M, K] = o.transA ? [ac, ar] : [ar, ac];
    const [K2, N] = o.transB ? [bc, br] : [br, bc];
    if (K !== K2) throw new Error(`${o.label}: inner dimensions ${K} and ${K2} differ`);
    if (act?.z && act.z.size !== M * N)
      throw new Error(`${act.kind} epilogue: pre-activation has ${act.z.size} values, expected ${M * N}`);
    // A fresh C is zeroed by the kernel, each panel by its own thread.
    const out = o.into ? this.target(o.into, [M, N], o.label) : this.alloc([M, N], o.label, 'f32', false);
    const y = act ? this.alloc([M, N], act.kind, 'f32', false) : null;
    const transA = o.transA ? 1 : 0;
    const epi = [act ? ACTIVATIONS[act.kind] + 1 : 0, act?.beta ?? 0, off(y), off(act?.z)];
    // The largest share of each split (rows in 4s, columns in 8s): columns when they split more evenly. Row
    // panels share all of packed B, packed first; column panels each pack their own columns of it.
    const T = this.pool?.size ?? 1;
    const byCols = Math.ceil(N / 8 / T) * 8 * M < Math.ceil(M / 4 / T) * 4 * N;
    this.withWorkspace(this.k.gemmWorkspaceBytes(M, N, K), o.label, (ws) => {
      this.k.gemmPack(off(a), off(b), M, N, K, transA, o.transB ? 1 : 0, off(o.bias), ws, byCols ? 0 : 1);
      const panel = (m0: number, m1: number, n0: number, n1: number) => [
        off(a),
        off(b),
        out.offset,
        M,
        N,
        K,
        transA,
        o.transB ? 1 : 0,
        off(o.bias),
        ws,
        byCols ? 1 : 0,
        m0,
        m1,
        n0,
        n1,
        ...epi,
        o.into ? 0 : 1,
      ];
      if (byCols) this.parallel('gemmPanel', N, M * N * K, 8, (lo, hi) => panel(0, M, lo, hi));
      else this.parallel('gemmPanel', M, M * N * K, 4, (lo, hi) => panel(lo, hi, 0, N));
    });
    return { z: out, a: y };
  }

  private conv(g: ConvGeom): number[] {
    return [g.n, g.c, g.h, g.w, g.o, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups, g.oh, g.ow];
  }
  private macs(g: ConvGeom): number {
    return (g.n * g.o * g.oh * g.ow * g.c * g.kh * g.kw) / g.groups;
  }
  private convWorkspace(g: ConvGeom): number {
    return this.k.convWorkspaceBytes(g.c / g.groups, g.o, g.kh, g.kw, g.oh, g.ow);
  }

  conv2d(x: BTensor, w: BTensor, bias: BTensor | null, g: ConvGeom, into?: BTensor | null): BTensor {
    return this.convForward(x, w, bias, g, into, null).z;
  }
  /**
   * The forward pass; with `act` (no tangent) its activation too, applied by the kernel per example while
   * the output is in cache. Without `into` the kernel writes the output once (no zeroing first).
   */
  private convForward(
    x: BTensor,
    w: BTensor,
    bias: BTensor | null,
    g: ConvGeom,
    into: BTensor | null | undefined,
    act: EpilogueActivation | null,
  ) {
    const shape = [g.n, g.o, g.oh, g.ow];
    const out = into ? this.target(into, shape, 'conv2d') : this.alloc(shape, 'conv2d', 'f32', false);
    const a = act ? this.alloc(shape, act.kind, 'f32', false) : null;
    const per = 4 * g.o * g.oh * g.ow;
    const wsBytes = Arena.sizeClass(this.convWorkspace(g));
    this.withWorkspace(wsBytes * this.threads, 'conv2d', (ws) =>
      this.parallel('conv2dForward', g.n, this.macs(g), 1, (lo, hi, t) => [
        off(x) + 4 * lo * g.c * g.h * g.w,
        off(w),
        off(bias),
        out.offset + lo * per,
        ...this.conv({ ...g, n: hi - lo }),
        ws + t * wsBytes,
        into ? 0 : 1,
        act ? ACTIVATIONS[act.kind] + 1 : 0,
        act?.beta ?? 0,
        a ? a.offset + lo * per : 0,
      ]),
    );
    return { z: out, a };
  }
  conv2dBackwardInput(gy: BTensor, w: BTensor, g: ConvGeom, into?: BTensor | null): BTensor {
    const shape = [g.n, g.c, g.h, g.w];
    const out = into
      ? this.target(into, shape, 'conv2d.backwardInput')
      : this.alloc(shape, 'conv2d.backwardInput', 'f32', false);
    const wsBytes = Arena.sizeClass(this.convWorkspace(g));
    this.withWorkspace(wsBytes * this.threads, 'conv2d.backwardInput', (ws) =>
      this.parallel('conv2dBackwardInput', g.n, this.macs(g), 1, (lo, hi, t) => [
        off(gy) + 4 * lo * g.o * g.oh * g.ow,
        off(w),
        out.offset + 4 * lo * g.c * g.h * g.w,
        ...this.conv({ ...g, n: hi - lo }),
        ws + t * wsBytes,
        into ? 0 : 1,
      ]),
    );
    return out;
  }
  /**
   * Work items (chunk of examples, group, block of output channels) split over the threads; each writes its
   * rows of its chunk's partial gradient, and the partials are added to the result in chunk order, so the
   * sum is bitwise the same for any thread count.
   */
  conv2dBackwardFilter(gy: BTensor, x: BTensor, g: ConvGeom, into?: BTensor | null): BTensor {
    const out = this.target(into, [g.o, g.c / g.groups, g.kh, g.kw], 'conv2d.backwardFilter');
    const og = g.o / g.groups,
      K = (g.c / g.groups) * g.kh * g.kw;
    const chunks = Math.max(1, Math.min(g.n, FILTER_CHUNKS, Math.floor(FILTER_PARTIAL_BYTES / (4 * out.size))));
    const ob = Math.min(og, Math.max(4, 4 * Math.floor(FILTER_ACC_BYTES / (64 * K))));
    const items = chunks * g.groups * Math.ceil(og / ob);
    const geom = this.conv(g);
    const wsBytes = Arena.sizeClass(this.k.convFilterWorkspaceBytes(...geom.slice(1), ob));
    const partBytes = Arena.sizeClass(4 * chunks * out.size);
    this.withWorkspace(partBytes + wsBytes * this.threads, 'conv2d.backwardFilter', (ws) => {
      this.parallel('conv2dBackwardFilter', items, this.macs(g), 1, (lo, hi, t) => [
        off(gy),
        off(x),
        ...geom,
        ws + partBytes + t * wsBytes,
        ws,
        chunks,
        ob,
        lo,
        hi,
      ]);
      this.k.conv2dBackwardFilterSum(ws, chunks, out.size, out.offset);
    });
    return out;
  }
  channelSum(t: BTensor, channels: number, spatial: number, into?: BTensor | null): BTensor {
    const out = this.target(into, [channels], 'channelSum');
    this.k.channelSum(off(t), t.size / (channels * spatial), channels, spatial, out.offset);
    return out;
  }

  private poolArgs(g: PoolGeom): number[] {
    return [g.n * g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.oh, g.ow];
  }
  /**
   * Pooling work (about 4 operations per window cell) for the thread split, which takes plane ranges; average
   * pooling and its backward pass measure 5× and 8× that in work units (scalar, with a division per window).
   */
  private poolWork(g: PoolGeom): number {
    return 4 * g.n * g.c * g.oh * g.ow * g.kh * g.kw;
  }
  /** poolArgs for planes [lo, hi). */
  private planeArgs(g: PoolGeom, lo: number, hi: number): number[] {
    return [hi - lo, ...this.poolArgs(g).slice(1)];
  }
  maxPool(x: BTensor, g: PoolGeom): { y: BTensor; argmax: BTensor } {
    const y = this.alloc([g.n, g.c, g.oh, g.ow], 'maxpool', 'f32', false);
    const argmax = this.alloc(y.shape, 'maxpool.argmax', 'i32', false);
    const per = 4 * g.oh * g.ow;
    // x stays whole (argmax indexes it); outputs and the first plane move with the range.
    this.parallel('maxPool', g.n * g.c, this.poolWork(g), 1, (lo, hi) => [
      off(x),
      y.offset + lo * per,
      argmax.offset + lo * per,
      ...this.planeArgs(g, lo, hi),
      lo,
    ]);
    return { y, argmax };
  }
  gather(src: BTensor, index: BTensor, label: string): BTensor {
    const out = this.alloc(index.shape, label, 'f32', false);
    this.k.gather(off(src), off(index, 'i32'), out.offset, index.size);
    return out;
  }
  maxPoolBackward(gy: BTensor, argmax: BTensor, g: PoolGeom): BTensor {
    // Not zeroed here: each plane range is zeroed by the thread that scatters into it (a serial fill of the
    // whole gradient cost as much as the scatter).
    const out = this.alloc([g.n, g.c, g.h, g.w], 'maxpool.backward', 'f32', false);
    // Plane ranges: a plane's argmax indexes only its own input plane, so the ranges write disjoint cells.
    const per = g.oh * g.ow;
    const plane = g.h * g.w;
    this.parallel('scatterAdd', g.n * g.c, this.poolWork(g), 1, (lo, hi) => [
      off(gy) + 4 * lo * per,
      off(argmax, 'i32') + 4 * lo * per,
      out.offset,
      (hi - lo) * per,
      out.offset + 4 * lo * plane,
      (hi - lo) * plane,
    ]);
    return out;
  }
  avgPool(x: BTensor, g: PoolGeom): BTensor {
    const y = this.alloc([g.n, g.c, g.oh, g.ow], 'avgpool', 'f32', false);
    this.parallel('avgPool', g.n * g.c, 5 * this.poolWork(g), 1, (lo, hi) => [
      off(x) + 4 * lo * g.h * g.w,
      y.offset + 4 * lo * g.oh * g.ow,
      ...this.planeArgs(g, lo, hi),
      g.countIncludePad ? 1 : 0,
    ]);
    return y;
  }
  avgPoolBackward(gy: BTensor, g: PoolGeom): BTensor {
    // Zeroed by the kernel, per thread's plane range.
    const out = this.alloc([g.n, g.c, g.h, g.w], 'avgpool.backward', 'f32', false);
    this.parallel('avgPoolBackward', g.n * g.c, 8 * this.poolWork(g), 1, (lo, hi) => [
      off(gy) + 4 * lo * g.oh * g.ow,
      out.offset + 4 * lo * g.h * g.w,
      ...this.planeArgs(g, lo, hi),
      g.countIncludePad ? 1 : 0,
    ]);
    return out;
  }

  matmulActivated(a: BTensor, b: BTensor, opts: MatmulOptions, act: EpilogueActivation) {
    const r = this.gemm(a, b, opts, act);
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
    if (act.z) return this.activated(this.conv2d(x, w, bias, g, into), act);
    const { z, a } = this.convForward(x, w, bias, g, into, act);
    return { z, a: a! };
  }
  /**
   * The epilogue over a GEMM's result z, still in cache for all but the largest layers: σ(z), or on the
   * tangent stream σ′(act.z)·z.
   */
  private activated(z: BTensor, act: EpilogueActivation): { z: BTensor; a: BTensor } {
    const a = this.alloc(z.shape, act.kind, 'f32', false);
    // Element ranges split at multiples of 4, as in activation(): the same SIMD or scalar path per element.
    const at = (t: BTensor, lo: number) => off(t) + 4 * lo;
    if (act.z) {
      if (act.z.size !== z.size)
        throw new Error(`${act.kind} epilogue: pre-activation has ${act.z.size} values, expected ${z.size}`);
      const pre = act.z;
      this.parallel('activationTangent', z.size, activationWork(act.kind, z.size), 4, (lo, hi) => [
        ACTIVATIONS[act.kind],
        act.beta,
        at(pre, lo),
        at(z, lo),
        at(a, lo),
        hi - lo,
      ]);
    } else {
      this.parallel('activation', z.size, activationWork(act.kind, z.size), 4, (lo, hi) => [
        ACTIVATIONS[act.kind],
        act.beta,
        at(z, lo),
        0,
        at(a, lo),
        0,
        hi - lo,
      ]);
    }
    return { z, a };
  }

  add(a: BTensor, b: BTensor, label: string): BTensor {
    if (a.size !== b.size) throw new Error(`add: sizes differ (${a.shape} vs ${b.shape})`);
    const out = this.alloc(a.shape, label, 'f32', false);
    this.k.add(off(a), off(b), out.offset, a.size);
    return out;
  }

  /** Writes int32 rows, each padded in front to 6 entries with `pad`, at byte offset `at`. */
  private writeGeom(at: number, rows: [readonly number[], number][]): void {
    this.views();
    let i = at >> 2;
    for (const [row, pad] of rows) {
      for (let k = row.length; k < 6; k++) this.i32view[i++] = pad;
      for (const v of row) this.i32view[i++] = v;
    }
  }

  broadcastBinary(kind: BinaryKind, a: BTensor, b: BTensor, g: BroadcastGeom, label: string): BTensor {
    checkBroadcastGeom(a, b, g, label);
    const out = this.alloc(g.shape, label, 'f32', false);
    this.withWorkspace(18 * 4, label, (ws) => {
      this.writeGeom(ws, [
        [g.shape, 1],
        [g.a, 0],
        [g.b, 0],
      ]);
      this.k.broadcastBinary(BINARY[kind], off(a), off(b), out.offset, ws);
    });
    return out;
  }

  sumTo(t: BTensor, from: readonly number[], to: readonly number[], scale: number, label: string): BTensor {
    const plan = sumToPlan(from, to, label);
    if (t.size !== sizeOf(from)) throw new Error(`${label}: ${t.label} has ${t.size} values, not ${shapeStr(from)}`);
    const out = this.alloc(to, label, 'f32', false);
    // The output stride of every dimension of `from`: 0 where it is summed.
    const strides: number[] = [];
    for (let d = from.length - 1, s = 1; d >= 0; d--) {
      strides.unshift(to[d] === from[d] ? s : 0);
      s *= to[d];
    }
    this.withWorkspace(64 + 8 * plan.total, label, (ws) => {
      this.writeGeom(ws, [
        [from, 1],
        [strides, 0],
      ]);
      this.k.sumTo(off(t), out.offset, plan.total, scale, ws, ws + 64);
    });
    return out;
  }

  copyBlocks(src: BTensor, g: BlockCopy, into: BTensor | null, shape: readonly number[], label: string): BTensor {
    const out = into ? wt(into) : this.alloc(shape, label, 'f32', false);
    const reach = (block: number, offset: number) => (g.n - 1) * block + offset + g.length;
    if (
      g.n > 0 &&
      g.length > 0 &&
      (reach(g.srcBlock, g.srcOffset) > src.size || reach(g.dstBlock, g.dstOffset) > out.size)
    ) {
      throw new Error(`${label}: block copy ${JSON.stringify(g)} reaches past ${src.label} or ${out.label}`);
    }
    this.k.copyBlocks(off(src), out.offset, g.n, g.length, g.srcBlock, g.srcOffset, g.dstBlock, g.dstOffset);
    return out;
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
    const C = mean.size;
    const out = this.alloc([6, C], 'batchnorm coefficients', 'f32', false);
    this.k.batchNormCoefficients(
      off(mean),
      off(variance),
      off(weight),
      off(bias),
      off(weightDot),
      off(biasDot),
      eps,
      C,
      out.offset,
    );
    return out;
  }
  batchNorm(x: BTensor, xdot: BTensor | null, coef: BTensor, g: ChannelGeom, paramTangents: boolean) {
    const y = this.alloc(x.shape, 'batchnorm', 'f32', false);
    const ydot = xdot || paramTangents ? this.alloc(x.shape, 'batchnorm tangent', 'f32', false) : null;
    this.k.batchNorm(
      off(x),
      off(xdot),
      off(coef),
      y.offset,
      off(ydot),
      g.n,
      g.channels,
      g.spatial,
      paramTangents ? 1 : 0,
    );
    return { y, ydot };
  }
  batchNormBackward(gy: BTensor, gydot: BTensor | null, coef: BTensor, g: ChannelGeom, paramTangents: boolean) {
    const gx = this.alloc(gy.shape, 'batchnorm backward', 'f32', false);
    const gxdot = gydot || paramTangents ? this.alloc(gy.shape, 'batchnorm backward2', 'f32', false) : null;
    this.k.batchNormBackward(
      off(gy),
      off(gydot),
      off(coef),
      gx.offset,
      off(gxdot),
      g.n,
      g.channels,
      g.spatial,
      paramTangents ? 1 : 0,
    );
    return { gx, gxdot };
  }
  batchNormWeightGrad(
    x: BTensor,
    xdot: BTensor | null,
    gy: BTensor,
    gydot: BTensor | null,
    coef: BTensor,
    g: ChannelGeom,
  ) {
    const gw = this.alloc([g.channels], 'batchnorm weight gradient', 'f32', false);
    const gwdot = xdot || gydot ? this.alloc([g.channels], 'batchnorm weight gradient tangent', 'f32', false) : null;
    this.k.batchNormWeightGrad(
      off(x),
      off(xdot),
      off(gy),
      off(gydot),
      off(coef),
      gw.offset,
      off(gwdot),
      g.n,
      g.channels,
      g.spatial,
    );
    return { gw, gwdot };
  }

  activation(kind: ActivationKind, beta: number, z: BTensor, zdot: BTensor | null) {
    const y = this.alloc(z.shape, kind, 'f32', false);
    const ydot = zdot ? this.alloc(z.shape, `${kind}.tangent`, 'f32', false) : null;
    // Ranges start at multiples of 4, so each element takes the same SIMD or scalar path as in one call.
    const at = (t: BTensor | null, lo: number) => (t ? off(t) + 4 * lo : 0);
    this.parallel('activation', z.size, activationWork(kind, z.size), 4, (lo, hi) => [
      ACTIVATIONS[kind],
      beta,
      at(z, lo),
      at(zdot, lo),
      at(y, lo),
      at(ydot, lo),
      hi - lo,
    ]);
    return { y, ydot };
  }
  activationBackward(
    kind: ActivationKind,
    beta: number,
    z: BTensor,
    gy: BTensor,
    zdot: BTensor | null,
    gydot: BTensor | null,
  ) {
    const gz = this.alloc(z.shape, `${kind}.backward`, 'f32', false);
    const gzdot = zdot || gydot ? this.alloc(z.shape, `${kind}.backward2`, 'f32', false) : null;
    const at = (t: BTensor | null, lo: number) => (t ? off(t) + 4 * lo : 0);
    this.parallel('activationBackward', z.size, activationWork(kind, z.size), 4, (lo, hi) => [
      ACTIVATIONS[kind],
      beta,
      at(z, lo),
      at(gy, lo),
      at(zdot, lo),
      at(gydot, lo),
      at(gz, lo),
      at(gzdot, lo),
      hi - lo,
    ]);
    return { gz, gzdot };
  }

  head(kind: HeadKind, z: BTensor, classes: BTensor, zdot: BTensor | null, scale: number) {
    const [B, K] = z.shape;
    if (kind === 'gaussNewton' && !zdot) throw new Error('gaussNewton head needs a tangent');
    const value = kind === 'gaussNewton' ? null : this.alloc([B], `head.${kind}.value`, 'f32', false);
    const g = this.alloc([B, K], `head.${kind}.seed`);
    const gdot =
      zdot && (kind === 'probability' || kind === 'crossEntropy')
        ? this.alloc([B, K], `head.${kind}.seedTangent`)
        : null;
    this.withWorkspace(8 * K, `head.${kind}`, (ws) => {
      this.k.head(
        HEADS[kind],
        off(z),
        off(classes, 'i32'),
        off(zdot),
        B,
        K,
        scale,
        off(value),
        g.offset,
        off(gdot),
        ws,
      );
    });
    return { value, g, gdot };
  }

  // ---- sampling: Philox in the module, bit-identical to src/noise/philox.ts ----
  private planArgs(plan: SamplePlan): [number, number, number, number, number, number] {
    return [
      NOISE[plan.noise],
      plan.key[0] >>> 0,
      plan.key[1] >>> 0,
      off(plan.exampleIds, 'i32'),
      off(plan.params),
      off(plan.given),
    ];
  }
  ballFactors(plan: SamplePlan, d: number): BTensor {
    const B = plan.exampleIds.size,
      N = plan.noiseSamples;
    const out = this.alloc([B, N], 'ball factors', 'f32', false);
    const [noise, k0, k1, ids, params] = this.planArgs(plan);
    this.k.ballFactors(noise, k0, k1, ids, params, N, B, d, out.offset);
    return out;
  }
  sampleInputs(plan: SamplePlan, x: BTensor, q0: number, len: number, ballFactors: BTensor | null): BTensor {
    const B = x.shape[0],
      d = x.size / B;
    const out = this.alloc([B * len, ...x.shape.slice(1)], 'sample inputs', 'f32', false);
    // One example: threads take ranges of its sample rows; more: ranges of examples (each row computed alike).
    // ~100 GEMM multiply-adds of time per element (Philox, the normal quantile).
    const one = B === 1;
    this.parallel('sampleInputs', one ? len : B, 100 * B * len * d, 1, (lo, hi) => [
      ...this.planArgs(plan),
      off(ballFactors),
      off(plan.baseline),
      plan.noiseSamples,
      plan.steps,
      B,
      d,
      off(x),
      one ? q0 + lo : q0,
      one ? hi - lo : len,
      out.offset + (one ? 4 * lo * d : 0),
      one ? 0 : lo,
      one ? 1 : hi,
    ]);
    return out;
  }
  sampleReduce(
    plan: SamplePlan,
    x: BTensor,
    grads: BTensor,
    q0: number,
    len: number,
    ballFactors: BTensor | null,
    stats: SampleStats,
    done: number,
  ): void {
    const B = x.shape[0],
      d = x.size / B;
    // Threads take element ranges (each element's fold is independent of the others').
    // ~80 GEMM multiply-adds of time per element and sample (a float64 Welford step with a division).
    this.parallel('sampleReduce', d, 80 * B * len * d, 4, (lo, hi) => [
      ...this.planArgs(plan),
      off(ballFactors),
      off(plan.baseline),
      plan.noiseSamples,
      plan.steps,
      B,
      d,
      off(x),
      off(grads),
      q0,
      len,
      off(stats),
      done,
      plan.multiply ? 1 : 0,
      plan.absolute ? 1 : 0,
      lo,
      hi,
    ]);
  }

  /** Raw Philox words for counters (i/4, c1, c2, c3), word i % 4: the bit-exactness test hook. */
  philoxWords(c1: number, c2: number, c3: number, key: [number, number], count: number): Uint32Array {
    const t = this.alloc([count], 'philox words', 'i32', false);
    this.k.philoxWords(c1, c2, c3, key[0] >>> 0, key[1] >>> 0, t.offset, count);
    this.views();
    const words = new Uint32Array(this.mem.buffer, t.offset, count).slice();
    this.release(t);
    return words;
  }
}
