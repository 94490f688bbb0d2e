/**
 * The kernel primitives every backend implements. Ops (src/ops) compose their four passes from these,
 * so an op's math is written once and each backend supplies only kernels: WGSL on webgpu, float64 loops
 * on cpu (the reference that defines correctness).
 *
 * Calls are recorded, not awaited: on webgpu they append dispatches to one command encoder, and nothing
 * reaches the device until `read`, which submits everything and reads all results back in one mapping.
 * Every tensor carries the batch as its leading dimension, so each call covers all examples at once.
 */
export type BackendName = 'webgpu' | 'wasm' | 'cpu';
export type DType = 'f32' | 'i32';

export interface BTensor {
  readonly shape: readonly number[];
  readonly size: number;
  readonly dtype: DType;
  readonly label: string;
}

/** conv2d geometry (PyTorch semantics, no dilation, groups = 1). */
export interface ConvGeom {
  n: number; c: number; h: number; w: number; // input [n, c, h, w]
  o: number; kh: number; kw: number; // weight [o, c, kh, kw]
  sh: number; sw: number; ph: number; pw: number; // stride, zero padding
  oh: number; ow: number; // output [n, o, oh, ow]
}

/** Pooling geometry, no padding; windows may overlap (stride < kernel). */
export interface PoolGeom {
  n: number; c: number; h: number; w: number;
  kh: number; kw: number; sh: number; sw: number;
  oh: number; ow: number;
}

export type ActivationKind = 'relu' | 'softplus' | 'tanh' | 'sigmoid';
export type HeadKind = 'logit' | 'probability' | 'crossEntropy' | 'gaussNewton';

export interface MatmulOptions {
  transA?: boolean; // use Aᵀ: A is stored [K, M]
  transB?: boolean; // use Bᵀ: B is stored [N, K]
  bias?: BTensor | null; // [N], added to every row
  into?: BTensor | null; // accumulate: into += op(A)·op(B); returns `into`
  label: string;
}

export interface Backend {
  readonly name: BackendName;
  /** Human-readable description of the device (adapter for webgpu). */
  readonly description: string;

  upload(data: ArrayLike<number>, shape: readonly number[], label: string): BTensor;
  uploadIndices(data: ArrayLike<number>, shape: readonly number[], label: string): BTensor;
  /** A tensor of zeros made on the device (nothing is uploaded). */
  zeros(shape: readonly number[], label: string): BTensor;
  /** Returns tensors to the pool; on webgpu their reuse waits until the work that uses them is submitted. */
  release(...ts: (BTensor | null | undefined)[]): void;
  /** Runs everything recorded so far and reads `ts` back (one submission, one mapping on webgpu). */
  read(ts: readonly BTensor[]): Promise<Float64Array[] | Float32Array[]>;

  /** C[M,N] = op(A)·op(B) (+ bias) (+ into). Batched examples are rows of A (dense) or of the implicit A (conv). */
  matmul(a: BTensor, b: BTensor, opts: MatmulOptions): BTensor;
  /** y = conv(x, w) + bias (+ into). */
  conv2d(x: BTensor, w: BTensor, bias: BTensor | null, g: ConvGeom, into?: BTensor | null): BTensor;
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
  activation(kind: ActivationKind, beta: number, z: BTensor, zdot: BTensor | null): { y: BTensor; ydot: BTensor | null };
  /** z̄ = σ′(z)·ȳ and, with tangents, its tangent σ′(z)·ẏ̄ + σ″(z)·ż·ȳ (a null tangent counts as zero). */
  activationBackward(
    kind: ActivationKind, beta: number, z: BTensor, gy: BTensor, zdot: BTensor | null, gydot: BTensor | null,
  ): { gz: BTensor; gzdot: BTensor | null };

  /**
   * Loss heads on logits z [B, K] with one class index per example. Returns the per-example value [B], the
   * seed g = scale·∇φ(z) [B, K] and, given ż, gdot = scale·∇²φ(z)·ż (null when the Hessian is zero).
   * 'gaussNewton' returns g = scale·(diag(p) − ppᵀ)·ż, the cross-entropy's logit Hessian applied to ż, and
   * no value or gdot: seeding a backward pass with it gives the Gauss–Newton product Jᵀ A J v.
   */
  head(kind: HeadKind, z: BTensor, classes: BTensor, zdot: BTensor | null, scale: number):
    { value: BTensor | null; g: BTensor; gdot: BTensor | null };
}

export interface Backend {
  /**
   * Sets flags[0] (an i32 [1] tensor) to `stage` if it is still 0 and t holds a value that is not finite
   * in float32: how a call learns, in its one readback, where an Infinity or NaN first appeared.
   */
  checkFinite(t: BTensor, flags: BTensor, stage: number): void;
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

export interface Backend {
  /** Largest tensor this backend can hold in one buffer, in bytes. */
  readonly maxTensorBytes: number;
  /** For the L2 ball: r·U^(1/d)/|z| per (example, noise sample) [B, N]. */
  ballFactors(plan: SamplePlan, d: number): BTensor;
  /** Network inputs of samples q0 … q0+len−1 of every example: [B·len, …x.shape[1:]], row b·len + j. */
  sampleInputs(plan: SamplePlan, x: BTensor, q0: number, len: number, ballFactors: BTensor | null): BTensor;
  /** Folds those samples' gradients [B·len, d] into `stats`; `done` noise samples were folded before. */
  sampleReduce(plan: SamplePlan, x: BTensor, grads: BTensor, q0: number, len: number, ballFactors: BTensor | null, stats: SampleStats, done: number): void;
}
