// The backend contract: what every backend (webgpu, cpu) implements, in three named parts — its lifecycle
// (memory, device generation and recovery, profiling, dispose), the kernel primitives that ops (src/ops)
// compose their four passes from, and the sampling kernels of the batched attribution engine. An op's math is
// written once; each backend supplies only kernels: WGSL on webgpu, float64 loops on cpu (the reference that
// defines correctness). Nothing outside src/backend/ needs to know which backend it holds.
//
// Calls are recorded, not awaited: on webgpu they append dispatches to one command encoder, and nothing
// reaches the device until `read`, which submits everything and reads all results back in one mapping.
// Every tensor carries the batch as its leading dimension, so each call covers all examples at once.
export type BackendName = 'webgpu' | 'wasm' | 'cpu';
export type DType = 'f32' | 'i32';

export interface BTensor {
  readonly shape: readonly number[];
  readonly size: number;
  readonly dtype: DType;
  readonly label: string;
}

/**
 * conv2d geometry (PyTorch semantics): tap (r, s) of output (p, q) reads input row p·sh + r·dh − ph. With
 * `groups` G, input and output channels split into G groups (c/G and o/G each; depthwise: G = c) and
 * output group i reads input group i only; the weight is [o, c/G, kh, kw].
 */
export interface ConvGeom {
  n: number;
  c: number;
  h: number;
  w: number; // input [n, c, h, w]
  o: number;
  kh: number;
  kw: number; // weight [o, c, kh, kw]
  sh: number;
  sw: number;
  ph: number;
  pw: number; // stride, zero padding
  dh: number;
  dw: number; // dilation
  groups: number;
  oh: number;
  ow: number; // output [n, o, oh, ow]
}

/**
 * Pooling geometry (PyTorch semantics); windows may overlap (stride < kernel). Window (p, q) starts at
 * (p·sh − ph, q·sw − pw); padding is −∞ for max pooling (never wins) and, for average pooling, counts in
 * the divisor (clipped to the padded input, as PyTorch) when `countIncludePad`, else only valid cells do.
 */
export interface PoolGeom {
  n: number;
  c: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  countIncludePad: boolean;
  oh: number;
  ow: number;
}

/** One block copy per example (see `copyBlocks`). */
export interface BlockCopy {
  n: number;
  length: number;
  srcBlock: number;
  srcOffset: number;
  dstBlock: number;
  dstOffset: number;
}

/** A tensor viewed as [n, channels, spatial] (spatial 1 for [n, channels]). */
export interface ChannelGeom {
  n: number;
  channels: number;
  spatial: number;
}

/** Largest rank (batch included) of a broadcast geometry (`broadcastBinary`, `sumTo`). */
export const MAX_BROADCAST_RANK = 6;

/**
 * Numpy broadcasting of two operands to one output: `shape` is the output's (batch leading, rank at most
 * MAX_BROADCAST_RANK); `a` and `b` are each operand's element stride along every output dimension, 0 along
 * a dimension the operand is broadcast over (where its size is 1).
 */
export interface BroadcastGeom {
  shape: readonly number[];
  a: readonly number[];
  b: readonly number[];
}

export type BinaryKind = 'add' | 'sub' | 'mul' | 'div';

export type ActivationKind = 'relu' | 'softplus' | 'tanh' | 'sigmoid';
export type HeadKind = 'logit' | 'probability' | 'crossEntropy' | 'gaussNewton';

/**
 * The activation that follows a dense or conv layer, applied in the GEMM's store (its epilogue) so that no
 * separate pass reads the layer's output back. `z` null: the value stream, a = σ(result). `z` given (the
 * value stream's pre-activation): the tangent stream, a = σ′(z)·result.
 */
export interface EpilogueActivation {
  kind: ActivationKind;
  beta: number;
  z: BTensor | null;
}

export interface MatmulOptions {
  transA?: boolean; // use Aᵀ: A is stored [K, M]
  transB?: boolean; // use Bᵀ: B is stored [N, K]
  bias?: BTensor | null; // [N], added to every row
  into?: BTensor | null; // accumulate: into += op(A)·op(B); returns `into`
  label: string;
}

/** Device memory held by a backend: bytes now, and the most since the last reset (pool and uniform arena). */
export interface MemoryUsage {
  allocatedBytes: number;
  peakBytes: number;
  /** Of allocatedBytes, the uniform arena's part (webgpu: bounded, see ARENA_MAX_BLOCKS in webgpu/context.ts). */
  uniformBytes: number;
}

/** The GPU time of one kernel dispatch. */
export interface KernelTiming {
  label: string;
  shapes: string;
  ms: number;
}

/** What `profile(fn)` found: fn's result and, where the backend can time kernels, every dispatch's GPU time. */
export type Profile<T> =
  /** `untimed`: dispatches past the 2048 a call can time (never more than that many are timed per call). */
  | { result: T; supported: true; kernels: KernelTiming[]; totalMs: number; untimed: number }
  | { result: T; supported: false; reason: string; kernels: []; totalMs: null };

/**
 * The chunk budget (Backend.chunkBytes) of the cpu backend and of software adapters: past it memory stays flat
 * as the samples grow, below it a chunk still holds hundreds of LeNet-sized samples (≈75 KB each), and smaller
 * chunks were faster than one huge chunk on the software adapter (bench/smoothgrad.mjs).
 */
export const DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024;

/** The lifecycle part of the contract: identity, limits, memory, device generation, profiling, disposal. */
export interface BackendLifecycle {
  readonly name: BackendName;
  /** Human-readable description of the device (adapter for webgpu). */
  readonly description: string;
  /** Largest tensor this backend can hold in one buffer, in bytes. */
  readonly maxTensorBytes: number;
  /**
   * Default memory budget of one chunk of a batched sampling call (SmoothGrad & co. without `maxBytes` or
   * `batchSize`): what suits this device, within maxTensorBytes. Results never depend on it.
   */
  readonly chunkBytes: number;
  /** Bumps when the device is replaced after a loss: tensors of an older generation are gone (re-upload). */
  readonly generation: number;
  /** Device memory held now and at its peak; null for a backend that holds none (cpu: host arrays only). */
  memory(): MemoryUsage | null;
  resetPeakMemory(): void;
  /** Returns idle pooled device memory to the driver now; the bytes freed (0 where nothing is pooled). */
  trim(): number;
  /**
   * The bytes a tensor of `bytes` occupies (its allocator's size class), for memory budgets; absent: exactly
   * `bytes`. Not a kernel: the sampling engine sizes its chunks with it.
   */
  bufferBytes?(bytes: number): number;
  /**
   * The scratch bytes a GEMM of M×N×K (a matmul, or a conv2d pass as implicit GEMM, per group) allocates for
   * the length of its dispatches (webgpu: split-K partial sums); absent: none. For memory budgets too.
   */
  gemmScratchBytes?(M: number, N: number, K: number): number;
  /** Makes the backend ready for the next call: replaces a lost device. Throws once disposed. */
  prepare(): Promise<void>;
  /**
   * Runs `fn` (which records and reads back through this backend) and returns the GPU time of each dispatch
   * it made, or `supported: false` with the reason where the backend cannot time kernels.
   */
  profile<T>(fn: () => Promise<T>): Promise<Profile<T>>;
  /** Frees the device; the backend cannot be used afterwards. */
  dispose(): void;
}

/** The kernel primitives part of the contract: memory transfers, GEMM/conv, pooling, pointwise, loss heads. */
export interface KernelPrimitives {
  upload(data: ArrayLike<number>, shape: readonly number[], label: string): BTensor;
  uploadIndices(data: ArrayLike<number>, shape: readonly number[], label: string): BTensor;
  /** A tensor of zeros made on the device (nothing is uploaded). */
  zeros(shape: readonly number[], label: string): BTensor;
  /** Returns tensors to the pool; on webgpu their reuse waits until the work that uses them is submitted. */
  release(...ts: (BTensor | null | undefined)[]): void;
  /** Runs everything recorded so far and reads `ts` back (one submission, one mapping on webgpu). */
  read(ts: readonly BTensor[]): Promise<Float64Array[] | Float32Array[]>;

  /**
   * out = a + b elementwise (same size; out takes a's shape): the `add` layer's passes and the accumulation of gradients and
   * their tangents where a value feeds several layers.
   */
  add(a: BTensor, b: BTensor, label: string): BTensor;
  /**
   * out[i] = a[·] ∘ b[·] for ∘ = kind (+, −, ×, ÷), each operand read at its position under broadcasting
   * (`g`); out has shape g.shape. The elementwise layers with a constant or a second value, and the terms of
   * their tangents and backward passes.
   */
  broadcastBinary(kind: BinaryKind, a: BTensor, b: BTensor, g: BroadcastGeom, label: string): BTensor;
  /**
   * out = scale · (t summed over every dimension where `to` is 1 and `from` is not): the gradient of an
   * operand that was broadcast (the adjoint of broadcasting), or t·scale when nothing is summed. `from` is
   * t's shape and `to` the operand's, of one rank (at most MAX_BROADCAST_RANK), each `to` dimension 1 or
   * equal to `from`'s; out has shape `to`.
   */
  sumTo(t: BTensor, from: readonly number[], to: readonly number[], scale: number, label: string): BTensor;
  /**
   * Copies `length` values per example: dst[b·dstBlock + dstOffset + j] = src[b·srcBlock + srcOffset + j] for
   * b < n, j < length (examples are the leading dimension of both). Into `into` when given (the rest of it is
   * left as is), else into a new tensor of `shape` that the copy must cover entirely. Concatenation along
   * channels, and its backward (a slice).
   */
  copyBlocks(src: BTensor, g: BlockCopy, into: BTensor | null, shape: readonly number[], label: string): BTensor;
  /**
   * Batch normalization (inference) per channel of a tensor viewed as [n, channels, spatial]. First the
   * coefficient table coef [6, channels] = (s = k·w, t = b − m·k·w, ṡ = k·ẇ, ṫ = ḃ − m·k·ẇ, m, k) with
   * k = 1/√(var + ε) (null tangents count as zero); the passes below read only it.
   */
  batchNormCoefficients(
    mean: BTensor,
    variance: BTensor,
    weight: BTensor,
    bias: BTensor,
    weightDot: BTensor | null,
    biasDot: BTensor | null,
    eps: number,
  ): BTensor;
  /** y = x·s + t and, given ẋ or parameter tangents (`paramTangents`), ẏ = ẋ·s + x·ṡ + ṫ. */
  batchNorm(
    x: BTensor,
    xdot: BTensor | null,
    coef: BTensor,
    g: ChannelGeom,
    paramTangents: boolean,
  ): { y: BTensor; ydot: BTensor | null };
  /** x̄ = ȳ·s and, given ẏ̄ or parameter tangents, its tangent ẏ̄·s + ȳ·ṡ. */
  batchNormBackward(
    gy: BTensor,
    gydot: BTensor | null,
    coef: BTensor,
    g: ChannelGeom,
    paramTangents: boolean,
  ): { gx: BTensor; gxdot: BTensor | null };
  /** w̄[c] = Σ ȳ·(x − m)·k and, given ẏ̄ or ẋ, its tangent Σ ẏ̄·(x − m)·k + ȳ·ẋ·k. */
  batchNormWeightGrad(
    x: BTensor,
    xdot: BTensor | null,
    gy: BTensor,
    gydot: BTensor | null,
    coef: BTensor,
    g: ChannelGeom,
  ): { gw: BTensor; gwdot: BTensor | null };
  /** C[M,N] = op(A)·op(B) (+ bias) (+ into). Batched examples are rows of A (dense) or of the implicit A (conv). */
  matmul(a: BTensor, b: BTensor, opts: MatmulOptions): BTensor;
  /** y = conv(x, w) + bias (+ into). */
  conv2d(x: BTensor, w: BTensor, bias: BTensor | null, g: ConvGeom, into?: BTensor | null): BTensor;
  /** matmul with the following activation in its store: z = what matmul returns, a = the activation of it. */
  matmulActivated(a: BTensor, b: BTensor, opts: MatmulOptions, act: EpilogueActivation): { z: BTensor; a: BTensor };
  /** conv2d with the following activation in its store: z = what conv2d returns, a = the activation of it. */
  conv2dActivated(
    x: BTensor,
    w: BTensor,
    bias: BTensor | null,
    g: ConvGeom,
    act: EpilogueActivation,
    into?: BTensor | null,
  ): { z: BTensor; a: BTensor };
  /** x̄ = conv_transpose(ȳ, w) (+ into). */
  conv2dBackwardInput(gy: BTensor, w: BTensor, g: ConvGeom, into?: BTensor | null): BTensor;
  /** w̄[o,c,r,s] = Σ_{n,p,q} ȳ[n,o,p,q]·x[n,c,p·sh+r−ph,q·sw+s−pw] (+ into). */
  conv2dBackwardFilter(gy: BTensor, x: BTensor, g: ConvGeom, into?: BTensor | null): BTensor;
  /** out[c] = Σ_{n,s} t[n, c, s] for t viewed as [n, channels, spatial] (+ into): bias gradients. */
  channelSum(t: BTensor, channels: number, spatial: number, into?: BTensor | null): BTensor;

  /** Max pooling; `argmax` holds, per output, the flat index into x of the winner (first maximum). */
  maxPool(x: BTensor, g: PoolGeom): { y: BTensor; argmax: BTensor };
  /** out[i] = src[index[i]]: the tangent of max pooling. */
  gather(src: BTensor, index: BTensor, label: string): BTensor;
  /** x̄[j] = Σ_{i: argmax[i] = j} ȳ[i]. */
  maxPoolBackward(gy: BTensor, argmax: BTensor, g: PoolGeom): BTensor;
  avgPool(x: BTensor, g: PoolGeom): BTensor;
  avgPoolBackward(gy: BTensor, g: PoolGeom): BTensor;

  /** y = σ(z) and, with a tangent, ẏ = σ′(z)·ż, in one pass. */
  activation(
    kind: ActivationKind,
    beta: number,
    z: BTensor,
    zdot: BTensor | null,
  ): { y: BTensor; ydot: BTensor | null };
  /** z̄ = σ′(z)·ȳ and, with tangents, its tangent σ′(z)·ẏ̄ + σ″(z)·ż·ȳ (a null tangent counts as zero). */
  activationBackward(
    kind: ActivationKind,
    beta: number,
    z: BTensor,
    gy: BTensor,
    zdot: BTensor | null,
    gydot: BTensor | null,
  ): { gz: BTensor; gzdot: BTensor | null };

  /**
   * Sets flags[0] (an i32 [1] tensor) to `stage` if it is still 0 and t holds a value that is not finite
   * in float32: how a call learns, in its one readback, where an Infinity or NaN first appeared.
   */
  checkFinite(t: BTensor, flags: BTensor, stage: number): void;

  /**
   * Loss heads on logits z [B, K] with one class index per example. Returns the per-example value [B], the
   * seed g = scale·∇φ(z) [B, K] and, given ż, gdot = scale·∇²φ(z)·ż (null when the Hessian is zero).
   * 'gaussNewton' returns g = scale·(diag(p) − ppᵀ)·ż, the cross-entropy's logit Hessian applied to ż, and
   * no value or gdot: seeding a backward pass with it gives the Gauss–Newton product Jᵀ A J v.
   */
  head(
    kind: HeadKind,
    z: BTensor,
    classes: BTensor,
    zdot: BTensor | null,
    scale: number,
  ): { value: BTensor | null; g: BTensor; gdot: BTensor | null };
}

export type NoiseKind = 'none' | 'gaussian' | 'cube' | 'ball' | 'given';

/**
 * How the samples of a batched-gradient method are made and folded (src/attribution/engine.ts). Sample
 * q of example b is noise sample n = ⌊q/S⌋ at path point s = q mod S; its network input is
 * baseline + α_s·(x + ε_n − baseline). Noise is drawn in-kernel from Philox keyed by `key`, counter
 * (element, n, exampleIds[b]); nothing of size N×d is uploaded.
 */
export interface SamplePlan {
  noise: NoiseKind;
  key: [number, number];
  exampleIds: BTensor; // i32 [B]
  /**
   * [B + 2S]: the noise scale per example (σ for gaussian, r for cube and ball), then the path points α_s,
   * then their weights w_s. Packed in one buffer so the kernels stay within 8 storage buffers per stage.
   */
  params: BTensor;
  given: BTensor | null; // [N, d] for 'given', the same draws for every example
  noiseSamples: number; // N
  steps: number; // S
  baseline: BTensor | null; // [B, d]; zero when null
  multiply: boolean; // A_n = (x + ε_n − baseline) ⊙ Σ_s w_s g
  absolute: boolean; // A_n = |A_n|
}

/**
 * Running statistics of the attributions A_n per (example, element), one tensor [3, B, d]: the path sum of
 * the noise sample in progress, the mean, and M2 (the sum of squared deviations).
 */
export type SampleStats = BTensor;

/** The sampling part of the contract: noise, sample inputs and the fold of their gradients (src/attribution/sampling.ts). */
export interface SamplingKernels {
  /** For the L2 ball: r·U^(1/d)/|z| per (example, noise sample) [B, N]. */
  ballFactors(plan: SamplePlan, d: number): BTensor;
  /** Network inputs of samples q0 … q0+len−1 of every example: [B·len, …x.shape[1:]], row b·len + j. */
  sampleInputs(plan: SamplePlan, x: BTensor, q0: number, len: number, ballFactors: BTensor | null): BTensor;
  /** Folds those samples' gradients [B·len, d] into `stats`; `done` noise samples were folded before. */
  sampleReduce(
    plan: SamplePlan,
    x: BTensor,
    grads: BTensor,
    q0: number,
    len: number,
    ballFactors: BTensor | null,
    stats: SampleStats,
    done: number,
  ): void;
}

/** One term of a parameter gradient: the optimiser steps along Σ scale·grad over its terms (at most two). */
export interface GradTerm {
  grad: BTensor;
  scale: number;
}

export interface SgdHyper {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step number, for the bias corrections 1 − β^t. */
  step: number;
}

/**
 * Training primitives (shaders/train.wgsl; float64 twin in src/backend/cpu-train.ts). Optimiser steps update
 * the parameter and its state in place, so a training step records kernels and never reads back.
 */
export interface TrainPrimitives {
  /** PyTorch SGD: g = Σ terms + wd·θ; v ← μ·v + g; θ ← θ − lr·(nesterov ? g + μ·v : v). */
  sgd(param: BTensor, velocity: BTensor, grads: readonly GradTerm[], h: SgdHyper): void;
  /** PyTorch Adam (L2 weight decay): m, v moments; θ ← θ − lr·m̂/(√v̂ + eps). */
  adam(param: BTensor, m: BTensor, v: BTensor, grads: readonly GradTerm[], h: AdamHyper): void;
  /**
   * SSR seeds on logits z [B, K] and their tangent ż along a unit w: λ = żᵀ A ż (A = diag(p) − ppᵀ),
   * g = scale·∂λ/∂ż = 2·scale·A ż and gdot = scale·∂λ/∂z, with ∂λ/∂z_k = p_k((ż_k − pᵀż)² − λ). With `ce`,
   * gdot also gets ce.scale·(p − e_label), the cross-entropy's seed (see shaders/train.wgsl).
   */
  ssrSeeds(
    z: BTensor,
    zdot: BTensor,
    scale: number,
    ce?: { classes: BTensor; scale: number } | null,
  ): { g: BTensor; gdot: BTensor; lambda: BTensor };
  /** out[b, :] = store[index[b], :] for a store [N, d] and i32 indices [B]. */
  gatherRows(store: BTensor, index: BTensor, d: number): BTensor;
  /** store[index[b], :] = rows[b, :] in place (distinct indices). */
  scatterRows(store: BTensor, index: BTensor, rows: BTensor, d: number): void;
  /** Each of `rows` rows of v divided by its L2 norm (a zero row stays zero). */
  normalizeRows(v: BTensor, rows: number): BTensor;
  /** One L∞ PGD step: clip(Π_{‖·−x‖∞≤ε}(xadv + step·sign(grad)), lo, hi). */
  pgdStep(xadv: BTensor, x: BTensor, grad: BTensor, epsilon: number, step: number, lo: number, hi: number): BTensor;
  /**
   * stats [4] += [Σ cross-entropy, Σ correct (argmax = label, first maximum), B, Σ λ] over the B rows of the
   * logits z [B, K]; `lambda` [B] may be null (adds 0).
   */
  accumulateMetrics(z: BTensor, classes: BTensor, lambda: BTensor | null, stats: BTensor): void;
}

/** A backend: its lifecycle, its kernel primitives, its sampling kernels and its training kernels. */
export interface Backend extends BackendLifecycle, KernelPrimitives, SamplingKernels {
  readonly train: TrainPrimitives;
}
