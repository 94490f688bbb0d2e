import { DEFAULT_CHUNK_BYTES } from './backend.js';
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
  HeadKind,
  EpilogueActivation,
  MatmulOptions,
  PoolGeom,
  Profile,
  SamplePlan,
  SampleStats,
} from './backend.js';
import { fail } from '../errors.js';
import { checkWork, LIMITS } from '../limits.js';
import { shapeStr, sizeOf } from '../tensor.js';
import { activationDerivatives } from './activation-math.js';
import { checkBroadcastGeom, offsetOf, sumToPlan } from './broadcast.js';
import { cpuTrainPrimitives } from './cpu-train.js';
import { normalFromUniform, philox4x32, uniform01 } from '../noise/philox.js';

/** The float64 reference backend: plain loops, written for clarity. It defines correctness. */
class CpuTensor implements BTensor {
  readonly size: number;
  constructor(
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly data: Float64Array | Int32Array,
    readonly label: string,
  ) {
    this.size = sizeOf(shape);
  }
}

/** Typed views that insist on the dtype, so a float tensor passed where indices belong fails here too. */
function f64(t: BTensor): Float64Array {
  if (t.dtype !== 'f32') throw new Error(`${t.label}: expected a float tensor, got ${t.dtype}`);
  return (t as CpuTensor).data as Float64Array;
}
function i32(t: BTensor): Int32Array {
  if (t.dtype !== 'i32') throw new Error(`${t.label}: expected an index tensor, got ${t.dtype}`);
  return (t as CpuTensor).data as Int32Array;
}
/**
 * The cpu backend's size limit (LIMITS.cpuTensorBytes, counted in float32 bytes as on webgpu): checked
 * before allocating, so an oversized layer fails at once with LIMIT_EXCEEDED instead of running for minutes.
 */
function checkSize(shape: readonly number[], label: string): void {
  const bytes = 4 * sizeOf(shape);
  if (bytes > LIMITS.cpuTensorBytes) {
    fail(
      'LIMIT_EXCEEDED',
      `${label} ${shapeStr(shape)} needs ${bytes} bytes, more than the cpu backend holds in one tensor (${LIMITS.cpuTensorBytes} bytes, LIMITS.cpuTensorBytes); use a smaller batch or model`,
    );
  }
}

/** The multiply-adds of one kernel, refused past LIMITS.cpuMultiplyAdds before the loops start. */
function checkMultiplyAdds(n: number, label: string): void {
  checkWork(
    'cpuMultiplyAdds',
    n,
    `${label} on the cpu backend: its multiply-adds`,
    'use a smaller batch or model, or the webgpu backend',
  );
}

const make = (shape: readonly number[], label: string): CpuTensor => {
  checkSize(shape, label);
  return new CpuTensor([...shape], 'f32', new Float64Array(sizeOf(shape)), label);
};

/** Returns `into` to accumulate in, or a fresh zero tensor. */
function target(into: BTensor | null | undefined, shape: readonly number[], label: string): CpuTensor {
  if (into) {
    if (into.size !== sizeOf(shape))
      throw new Error(`${label}: accumulator has ${into.size} values, expected ${sizeOf(shape)}`);
    return into as CpuTensor;
  }
  return make(shape, label);
}

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  readonly description = 'float64 reference (TypeScript)';
  readonly maxTensorBytes = LIMITS.cpuTensorBytes;
  readonly chunkBytes = DEFAULT_CHUNK_BYTES;
  readonly train = cpuTrainPrimitives(make);
  /** No device to lose: the generation never changes. */
  readonly generation = 0;
  private disposed = false;

  /** Host arrays only, garbage-collected: no device memory to account. */
  memory(): null {
    return null;
  }
  resetPeakMemory(): void {
    // Nothing is accounted (see memory()).
  }
  /** Nothing is pooled: no bytes to free. */
  trim(): number {
    return 0;
  }
  async prepare(): Promise<void> {
    if (this.disposed) fail('BACKEND_UNAVAILABLE', 'this engine was disposed; create a new one');
  }
  async profile<T>(fn: () => Promise<T>): Promise<Profile<T>> {
    const result = await fn();
    return {
      result,
      supported: false,
      reason: 'the cpu backend runs no GPU kernels to time',
      kernels: [],
      totalMs: null,
    };
  }
  dispose(): void {
    this.disposed = true;
  }

  upload(data: ArrayLike<number>, shape: readonly number[], label: string): BTensor {
    checkSize(shape, label);
    return new CpuTensor([...shape], 'f32', Float64Array.from(data), label);
  }
  uploadIndices(data: ArrayLike<number>, shape: readonly number[], label: string): BTensor {
    checkSize(shape, label);
    return new CpuTensor([...shape], 'i32', Int32Array.from(data), label);
  }
  zeros(shape: readonly number[], label: string): BTensor {
    return new CpuTensor([...shape], 'f32', new Float64Array(sizeOf(shape)), label);
  }
  release(): void {
    // Garbage-collected.
  }
  async read(ts: readonly BTensor[]): Promise<Float64Array[]> {
    return ts.map((t) => Float64Array.from((t as CpuTensor).data));
  }

  checkFinite(t: BTensor, flags: BTensor, stage: number): void {
    const F = i32(flags);
    if (F[0] !== 0) return;
    const T = (t as CpuTensor).data;
    // Math.fround: a float64 value past the float32 range is what webgpu would hold as Infinity.
    for (let i = 0; i < T.length; i++)
      if (!Number.isFinite(Math.fround(T[i]))) {
        F[0] = stage;
        return;
      }
  }

  matmul(a: BTensor, b: BTensor, o: MatmulOptions): BTensor {
    const [ar, ac] = a.shape.length === 2 ? a.shape : [a.shape[0], a.size / a.shape[0]];
    const [br, bc] = b.shape.length === 2 ? b.shape : [b.shape[0], b.size / b.shape[0]];
    const [M, K] = o.transA ? [ac, ar] : [ar, ac];
    const [K2, N] = o.transB ? [bc, br] : [br, bc];
    if (K !== K2) throw new Error(`${o.label}: inner dimensions ${K} and ${K2} differ`);
    checkMultiplyAdds(M * N * K, o.label);
    const A = f64(a),
      B = f64(b),
      bias = o.bias ? f64(o.bias) : null;
    const out = target(o.into, [M, N], o.label),
      C = out.data as Float64Array;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = bias ? bias[n] : 0;
        for (let k = 0; k < K; k++) {
          s += (o.transA ? A[k * M + m] : A[m * K + k]) * (o.transB ? B[n * K + k] : B[k * N + n]);
        }
        C[m * N + n] += s;
      }
    }
    return out;
  }

  conv2d(x: BTensor, w: BTensor, bias: BTensor | null, g: ConvGeom, into?: BTensor | null): BTensor {
    checkMultiplyAdds(convMultiplyAdds(g), 'conv2d');
    const X = f64(x),
      W = f64(w),
      b = bias ? f64(bias) : null;
    const out = target(into, [g.n, g.o, g.oh, g.ow], 'conv2d'),
      Y = out.data as Float64Array;
    const cg = g.c / g.groups,
      og = g.o / g.groups;
    for (let n = 0; n < g.n; n++)
      for (let o = 0; o < g.o; o++)
        for (let p = 0; p < g.oh; p++)
          for (let q = 0; q < g.ow; q++) {
            let s = b ? b[o] : 0;
            const c0 = Math.floor(o / og) * cg;
            for (let ci = 0; ci < cg; ci++)
              for (let r = 0; r < g.kh; r++)
                for (let t = 0; t < g.kw; t++) {
                  const c = c0 + ci,
                    h = p * g.sh + r * g.dh - g.ph,
                    ww = q * g.sw + t * g.dw - g.pw;
                  if (h >= 0 && h < g.h && ww >= 0 && ww < g.w) {
                    s += W[((o * cg + ci) * g.kh + r) * g.kw + t] * X[((n * g.c + c) * g.h + h) * g.w + ww];
                  }
                }
            Y[((n * g.o + o) * g.oh + p) * g.ow + q] += s;
          }
    return out;
  }

  conv2dBackwardInput(gy: BTensor, w: BTensor, g: ConvGeom, into?: BTensor | null): BTensor {
    checkMultiplyAdds(convMultiplyAdds(g), 'conv2d backward input');
    const GY = f64(gy),
      W = f64(w);
    const out = target(into, [g.n, g.c, g.h, g.w], 'conv2d.backwardInput'),
      GX = out.data as Float64Array;
    forEachConvTap(g, (yi, wi, xi) => {
      GX[xi] += GY[yi] * W[wi];
    });
    return out;
  }

  conv2dBackwardFilter(gy: BTensor, x: BTensor, g: ConvGeom, into?: BTensor | null): BTensor {
    checkMultiplyAdds(convMultiplyAdds(g), 'conv2d backward filter');
    const GY = f64(gy),
      X = f64(x);
    const out = target(into, [g.o, g.c / g.groups, g.kh, g.kw], 'conv2d.backwardFilter'),
      GW = out.data as Float64Array;
    forEachConvTap(g, (yi, wi, xi) => {
      GW[wi] += GY[yi] * X[xi];
    });
    return out;
  }

  channelSum(t: BTensor, channels: number, spatial: number, into?: BTensor | null): BTensor {
    const T = f64(t),
      n = t.size / (channels * spatial);
    const out = target(into, [channels], 'channelSum'),
      S = out.data as Float64Array;
    for (let b = 0; b < n; b++)
      for (let c = 0; c < channels; c++)
        for (let s = 0; s < spatial; s++) {
          S[c] += T[(b * channels + c) * spatial + s];
        }
    return out;
  }

  maxPool(x: BTensor, g: PoolGeom): { y: BTensor; argmax: BTensor } {
    const X = f64(x);
    const y = make([g.n, g.c, g.oh, g.ow], 'maxpool'),
      Y = y.data as Float64Array;
    const argmax = new CpuTensor(y.shape, 'i32', new Int32Array(y.size), 'maxpool.argmax'),
      A = argmax.data as Int32Array;
    forEachWindow(g, (out, plane, h0, w0) => {
      let best = -Infinity,
        at = -1;
      forEachCell(g, h0, w0, (hh, ww) => {
        const j = plane + hh * g.w + ww;
        if (at < 0 || X[j] > best) {
          best = X[j];
          at = j;
        }
      });
      Y[out] = best;
      A[out] = at;
    });
    return { y, argmax };
  }

  gather(src: BTensor, index: BTensor, label: string): BTensor {
    const S = f64(src),
      I = i32(index);
    const out = make(index.shape, label),
      O = out.data as Float64Array;
    for (let i = 0; i < O.length; i++) O[i] = S[I[i]];
    return out;
  }

  maxPoolBackward(gy: BTensor, argmax: BTensor, g: PoolGeom): BTensor {
    const GY = f64(gy),
      A = i32(argmax);
    const out = make([g.n, g.c, g.h, g.w], 'maxpool.backward'),
      GX = out.data as Float64Array;
    for (let i = 0; i < A.length; i++) GX[A[i]] += GY[i];
    return out;
  }

  add(a: BTensor, b: BTensor, label: string): BTensor {
    if (a.size !== b.size) throw new Error(`add: sizes differ (${a.shape} vs ${b.shape})`);
    const A = f64(a),
      B = f64(b);
    const out = make(a.shape, label),
      O = out.data as Float64Array;
    for (let i = 0; i < A.length; i++) O[i] = A[i] + B[i];
    return out;
  }

  broadcastBinary(kind: BinaryKind, a: BTensor, b: BTensor, g: BroadcastGeom, label: string): BTensor {
    checkBroadcastGeom(a, b, g, label);
    const A = f64(a),
      B = f64(b);
    const out = make(g.shape, label),
      O = out.data as Float64Array;
    const ax = g.shape.map((size, i) => ({ size, stride: g.a[i] })),
      bx = g.shape.map((size, i) => ({ size, stride: g.b[i] }));
    for (let i = 0; i < O.length; i++) {
      const u = A[offsetOf(i, ax)],
        v = B[offsetOf(i, bx)];
      O[i] = kind === 'add' ? u + v : kind === 'sub' ? u - v : kind === 'mul' ? u * v : u / v;
    }
    return out;
  }

  sumTo(t: BTensor, from: readonly number[], to: readonly number[], scale: number, label: string): BTensor {
    const plan = sumToPlan(from, to, label);
    if (t.size !== sizeOf(from)) throw new Error(`${label}: ${t.label} has ${t.size} values, not ${shapeStr(from)}`);
    const T = f64(t);
    const out = make(to, label),
      O = out.data as Float64Array;
    for (let j = 0; j < plan.total; j++) {
      const base = offsetOf(j, plan.kept);
      let s = 0;
      for (let r = 0; r < plan.inner; r++) s += T[base + offsetOf(r, plan.summed)];
      O[j] = scale * s;
    }
    return out;
  }

  copyBlocks(src: BTensor, g: BlockCopy, into: BTensor | null, shape: readonly number[], label: string): BTensor {
    const S = f64(src),
      out = (into as CpuTensor | null) ?? make(shape, label),
      D = out.data as Float64Array;
    for (let b = 0; b < g.n; b++)
      for (let j = 0; j < g.length; j++) D[b * g.dstBlock + g.dstOffset + j] = S[b * g.srcBlock + g.srcOffset + j];
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
    const C = mean.size,
      M = f64(mean),
      V = f64(variance),
      W = f64(weight),
      Bi = f64(bias);
    const WD = weightDot ? f64(weightDot) : null,
      BD = biasDot ? f64(biasDot) : null;
    const out = make([6, C], 'batchnorm coefficients'),
      O = out.data as Float64Array;
    for (let c = 0; c < C; c++) {
      const k = 1 / Math.sqrt(V[c] + eps),
        sdot = WD ? k * WD[c] : 0;
      O[c] = k * W[c];
      O[C + c] = Bi[c] - M[c] * k * W[c];
      O[2 * C + c] = sdot;
      O[3 * C + c] = -M[c] * sdot + (BD ? BD[c] : 0);
      O[4 * C + c] = M[c];
      O[5 * C + c] = k;
    }
    return out;
  }

  batchNorm(x: BTensor, xdot: BTensor | null, coef: BTensor, g: ChannelGeom, paramTangents: boolean) {
    const X = f64(x),
      XD = xdot ? f64(xdot) : null,
      K = f64(coef),
      C = g.channels;
    const y = make(x.shape, 'batchnorm'),
      Y = y.data as Float64Array;
    const ydot = XD || paramTangents ? make(x.shape, 'batchnorm tangent') : null,
      YD = ydot?.data as Float64Array;
    for (let i = 0; i < X.length; i++) {
      const c = Math.floor(i / g.spatial) % C;
      Y[i] = X[i] * K[c] + K[C + c];
      if (YD) YD[i] = (XD ? XD[i] * K[c] : 0) + (paramTangents ? X[i] * K[2 * C + c] + K[3 * C + c] : 0);
    }
    return { y, ydot };
  }

  batchNormBackward(gy: BTensor, gydot: BTensor | null, coef: BTensor, g: ChannelGeom, paramTangents: boolean) {
    const GY = f64(gy),
      GYD = gydot ? f64(gydot) : null,
      K = f64(coef),
      C = g.channels;
    const gx = make(gy.shape, 'batchnorm backward'),
      GX = gx.data as Float64Array;
    const gxdot = GYD || paramTangents ? make(gy.shape, 'batchnorm backward2') : null,
      GXD = gxdot?.data as Float64Array;
    for (let i = 0; i < GY.length; i++) {
      const c = Math.floor(i / g.spatial) % C;
      GX[i] = GY[i] * K[c];
      if (GXD) GXD[i] = (GYD ? GYD[i] * K[c] : 0) + (paramTangents ? GY[i] * K[2 * C + c] : 0);
    }
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
    const X = f64(x),
      XD = xdot ? f64(xdot) : null,
      GY = f64(gy),
      GYD = gydot ? f64(gydot) : null,
      K = f64(coef),
      C = g.channels;
    const gw = make([C], 'batchnorm weight gradient'),
      GW = gw.data as Float64Array;
    const gwdot = XD || GYD ? make([C], 'batchnorm weight gradient tangent') : null,
      GWD = gwdot?.data as Float64Array;
    for (let i = 0; i < X.length; i++) {
      const c = Math.floor(i / g.spatial) % C,
        k = K[5 * C + c],
        xhat = (X[i] - K[4 * C + c]) * k;
      GW[c] += GY[i] * xhat;
      if (GWD) GWD[c] += (GYD ? GYD[i] * xhat : 0) + (XD ? GY[i] * XD[i] * k : 0);
    }
    return { gw, gwdot };
  }

  avgPool(x: BTensor, g: PoolGeom): BTensor {
    const X = f64(x);
    const y = make([g.n, g.c, g.oh, g.ow], 'avgpool'),
      Y = y.data as Float64Array;
    forEachWindow(g, (out, plane, h0, w0) => {
      let s = 0;
      forEachCell(g, h0, w0, (hh, ww) => {
        s += X[plane + hh * g.w + ww];
      });
      Y[out] = s / avgDivisor(g, h0, w0);
    });
    return y;
  }

  avgPoolBackward(gy: BTensor, g: PoolGeom): BTensor {
    const GY = f64(gy);
    const out = make([g.n, g.c, g.h, g.w], 'avgpool.backward'),
      GX = out.data as Float64Array;
    forEachWindow(g, (o, plane, h0, w0) => {
      const share = GY[o] / avgDivisor(g, h0, w0);
      forEachCell(g, h0, w0, (hh, ww) => {
        GX[plane + hh * g.w + ww] += share;
      });
    });
    return out;
  }

  matmulActivated(a: BTensor, b: BTensor, opts: MatmulOptions, act: EpilogueActivation) {
    return this.activated(this.matmul(a, b, opts), act);
  }
  conv2dActivated(
    x: BTensor,
    w: BTensor,
    bias: BTensor | null,
    g: ConvGeom,
    act: EpilogueActivation,
    into?: BTensor | null,
  ) {
    return this.activated(this.conv2d(x, w, bias, g, into), act);
  }
  /** The epilogue's activation of a GEMM result: σ(z), or σ′(act.z)·z on the tangent stream. */
  private activated(z: BTensor, act: EpilogueActivation): { z: BTensor; a: BTensor } {
    const Z = f64(z),
      S = act.z ? f64(act.z) : null;
    const a = make(z.shape, act.kind),
      A = a.data as Float64Array;
    for (let i = 0; i < Z.length; i++) {
      A[i] = S
        ? activationDerivatives(act.kind, act.beta, S[i]).d1 * Z[i]
        : activationDerivatives(act.kind, act.beta, Z[i]).f;
    }
    return { z, a };
  }

  activation(kind: ActivationKind, beta: number, z: BTensor, zdot: BTensor | null) {
    const Z = f64(z),
      ZD = zdot ? f64(zdot) : null;
    const y = make(z.shape, kind),
      Y = y.data as Float64Array;
    const ydot = ZD ? make(z.shape, `${kind}.tangent`) : null,
      YD = ydot?.data as Float64Array;
    for (let i = 0; i < Z.length; i++) {
      const d = activationDerivatives(kind, beta, Z[i]);
      Y[i] = d.f;
      if (ZD) YD[i] = d.d1 * ZD[i];
    }
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
    const Z = f64(z),
      GY = f64(gy),
      ZD = zdot ? f64(zdot) : null,
      GYD = gydot ? f64(gydot) : null;
    const gz = make(z.shape, `${kind}.backward`),
      GZ = gz.data as Float64Array;
    const gzdot = ZD || GYD ? make(z.shape, `${kind}.backward2`) : null,
      GZD = gzdot?.data as Float64Array;
    for (let i = 0; i < Z.length; i++) {
      const d = activationDerivatives(kind, beta, Z[i]);
      GZ[i] = d.d1 * GY[i];
      if (gzdot) GZD[i] = (GYD ? d.d1 * GYD[i] : 0) + (ZD ? d.d2 * ZD[i] * GY[i] : 0);
    }
    return { gz, gzdot };
  }

  head(kind: HeadKind, z: BTensor, classes: BTensor, zdot: BTensor | null, scale: number) {
    const [B, K] = z.shape,
      Z = f64(z),
      C = i32(classes),
      ZD = zdot ? f64(zdot) : null;
    if (kind === 'gaussNewton' && !ZD) throw new Error('gaussNewton head needs a tangent');
    const value = kind === 'gaussNewton' ? null : make([B], `head.${kind}.value`);
    const g = make([B, K], `head.${kind}.seed`),
      G = g.data as Float64Array;
    const hasHessian = ZD && (kind === 'probability' || kind === 'crossEntropy');
    const gdot = hasHessian ? make([B, K], `head.${kind}.seedTangent`) : null,
      GD = gdot?.data as Float64Array;
    for (let b = 0; b < B; b++) {
      const row = Z.subarray(b * K, (b + 1) * K),
        c = C[b];
      const p = softmax(row);
      const zd = ZD ? ZD.subarray(b * K, (b + 1) * K) : null;
      const pzd = zd ? p.reduce((s, pk, k) => s + pk * zd[k], 0) : 0; // pᵀż
      const out = G.subarray(b * K, (b + 1) * K),
        outd = GD?.subarray(b * K, (b + 1) * K);
      if (kind === 'logit') {
        (value!.data as Float64Array)[b] = row[c];
        out[c] = scale;
      } else if (kind === 'probability') {
        // φ = p_c; ∇φ = p_c (e_c − p); ∇²φ·ż = ṗ_c (e_c − p) − p_c ṗ with ṗ = p ⊙ (ż − pᵀż).
        (value!.data as Float64Array)[b] = p[c];
        const pcdot = zd ? p[c] * (zd[c] - pzd) : 0;
        for (let k = 0; k < K; k++) {
          const ek = k === c ? 1 : 0;
          out[k] = scale * p[c] * (ek - p[k]);
          if (outd) outd[k] = scale * (pcdot * (ek - p[k]) - p[c] * p[k] * (zd![k] - pzd));
        }
      } else if (kind === 'crossEntropy') {
        // φ = logsumexp(z) − z_c; ∇φ = p − e_c; ∇²φ·ż = p ⊙ (ż − pᵀż).
        (value!.data as Float64Array)[b] = logSumExp(row) - row[c];
        for (let k = 0; k < K; k++) {
          out[k] = scale * (p[k] - (k === c ? 1 : 0));
          if (outd) outd[k] = scale * p[k] * (zd![k] - pzd);
        }
      } else {
        for (let k = 0; k < K; k++) out[k] = scale * p[k] * (zd![k] - pzd);
      }
    }
    return { value, g, gdot };
  }

  // ---- sampling (the float64 twin of shaders/philox.wgsl and the sample_reduce kernel) ----
  ballFactors(plan: SamplePlan, d: number): BTensor {
    const B = plan.exampleIds.size,
      N = plan.noiseSamples,
      ids = i32(plan.exampleIds),
      scales = f64(plan.params);
    const out = make([B, N], 'ball factors'),
      F = out.data as Float64Array;
    for (let b = 0; b < B; b++)
      for (let n = 0; n < N; n++) {
        let ss = 0;
        for (let i = 0; i < d; i++) {
          const z = unitDraw(plan, elementWord(plan, ids[b], n, i));
          ss += z * z;
        }
        const radiusU = uniform01(philox4x32(0, n, ids[b], 1, plan.key[0], plan.key[1])[0]);
        F[b * N + n] = (scales[b] * radiusU ** (1 / d)) / Math.sqrt(ss);
      }
    return out;
  }

  sampleInputs(plan: SamplePlan, x: BTensor, q0: number, len: number, ballFactors: BTensor | null): BTensor {
    const B = x.shape[0],
      d = x.size / B,
      X = f64(x),
      alphas = f64(plan.params).subarray(B),
      base = plan.baseline ? f64(plan.baseline) : null;
    const out = make([B * len, ...x.shape.slice(1)], 'sample inputs'),
      O = out.data as Float64Array;
    for (let b = 0; b < B; b++)
      for (let j = 0; j < len; j++) {
        const q = q0 + j,
          n = Math.floor(q / plan.steps),
          alpha = alphas[q % plan.steps];
        for (let i = 0; i < d; i++) {
          const xv = X[b * d + i] + noiseValue(plan, ballFactors, b, n, i, d),
            bv = base ? base[b * d + i] : 0;
          O[(b * len + j) * d + i] = bv + alpha * (xv - bv);
        }
      }
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
      d = x.size / B,
      X = f64(x),
      G = f64(grads),
      w = f64(plan.params).subarray(B + plan.steps),
      base = plan.baseline ? f64(plan.baseline) : null;
    const state = f64(stats),
      inner = state.subarray(0, B * d),
      mean = state.subarray(B * d, 2 * B * d),
      m2 = state.subarray(2 * B * d);
    for (let b = 0; b < B; b++)
      for (let i = 0; i < d; i++) {
        const t = b * d + i;
        let acc = inner[t],
          meanC = 0,
          m2C = 0,
          count = 0;
        for (let j = 0; j < len; j++) {
          const q = q0 + j,
            s = q % plan.steps;
          acc += w[s] * G[(b * len + j) * d + i];
          if (s !== plan.steps - 1) continue;
          let a = acc;
          acc = 0;
          if (plan.multiply)
            a *= X[t] + noiseValue(plan, ballFactors, b, Math.floor(q / plan.steps), i, d) - (base ? base[t] : 0);
          if (plan.absolute) a = Math.abs(a);
          count++;
          const delta = a - meanC;
          meanC += delta / count;
          m2C += delta * (a - meanC);
        }
        inner[t] = acc;
        if (count > 0) {
          const total = done + count,
            delta = meanC - mean[t];
          mean[t] += (delta * count) / total;
          m2[t] += m2C + (delta * delta * done * count) / total;
        }
      }
  }
}

function elementWord(plan: SamplePlan, id: number, n: number, i: number): number {
  return philox4x32(Math.floor(i / 4), n, id, 0, plan.key[0], plan.key[1])[i % 4];
}

function unitDraw(plan: SamplePlan, bits: number): number {
  return plan.noise === 'cube' ? 2 * uniform01(bits) - 1 : normalFromUniform(uniform01(bits));
}

/** ε for element i of noise sample n of example b (row b of the plan's tensors). */
function noiseValue(plan: SamplePlan, ballFactors: BTensor | null, b: number, n: number, i: number, d: number): number {
  if (plan.noise === 'none') return 0;
  if (plan.noise === 'given') return f64(plan.given!)[n * d + i];
  const scale = plan.noise === 'ball' ? f64(ballFactors!)[b * plan.noiseSamples + n] : f64(plan.params)[b];
  return scale * unitDraw(plan, elementWord(plan, i32(plan.exampleIds)[b], n, i));
}

function softmax(z: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < z.length; i++) m = Math.max(m, z[i]);
  const e = Array.from(z, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function logSumExp(z: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < z.length; i++) m = Math.max(m, z[i]);
  let s = 0;
  for (let i = 0; i < z.length; i++) s += Math.exp(z[i] - m);
  return m + Math.log(s);
}

/** Calls fn(flat output index, flat start of the input plane, window row, window column) for every window. */
function forEachWindow(g: PoolGeom, fn: (out: number, plane: number, h0: number, w0: number) => void): void {
  let out = 0;
  for (let nc = 0; nc < g.n * g.c; nc++) {
    const plane = nc * g.h * g.w;
    for (let p = 0; p < g.oh; p++) for (let q = 0; q < g.ow; q++) fn(out++, plane, p * g.sh - g.ph, q * g.sw - g.pw);
  }
}

/** The input cells of the window starting at (h0, w0) (which may lie in the padding): padding is skipped. */
function forEachCell(g: PoolGeom, h0: number, w0: number, fn: (h: number, w: number) => void): void {
  for (let hh = Math.max(h0, 0); hh < Math.min(h0 + g.kh, g.h); hh++)
    for (let ww = Math.max(w0, 0); ww < Math.min(w0 + g.kw, g.w); ww++) fn(hh, ww);
}

/** Average pooling's divisor, as PyTorch: the window clipped to the padded input, or to the input alone. */
function avgDivisor(g: PoolGeom, h0: number, w0: number): number {
  const [lo, hi] = g.countIncludePad
    ? [
        [-g.ph, -g.pw],
        [g.h + g.ph, g.w + g.pw],
      ]
    : [
        [0, 0],
        [g.h, g.w],
      ];
  return (Math.min(h0 + g.kh, hi[0]) - Math.max(h0, lo[0])) * (Math.min(w0 + g.kw, hi[1]) - Math.max(w0, lo[1]));
}

/** Multiply–adds of one pass of a convolution (each pass visits every tap once). */
const convMultiplyAdds = (g: ConvGeom): number => g.n * g.o * g.oh * g.ow * (g.c / g.groups) * g.kh * g.kw;

/**
 * Every in-bounds tap of a convolution as (output, weight, input) flat indices, in one fixed order (example,
 * output channel, output row, column, input channel of the group, kernel row, column): the backward passes
 * are the same walk as the forward with the accumulation moved to another operand.
 */
function forEachConvTap(g: ConvGeom, visit: (yi: number, wi: number, xi: number) => void): void {
  const cg = g.c / g.groups,
    og = g.o / g.groups;
  for (let n = 0; n < g.n; n++)
    for (let o = 0; o < g.o; o++)
      for (let p = 0; p < g.oh; p++)
        for (let q = 0; q < g.ow; q++) {
          const yi = ((n * g.o + o) * g.oh + p) * g.ow + q;
          const c0 = Math.floor(o / og) * cg;
          for (let ci = 0; ci < cg; ci++)
            for (let r = 0; r < g.kh; r++)
              for (let t = 0; t < g.kw; t++) {
                const h = p * g.sh + r * g.dh - g.ph,
                  ww = q * g.sw + t * g.dw - g.pw;
                if (h >= 0 && h < g.h && ww >= 0 && ww < g.w) {
                  visit(yi, ((o * cg + ci) * g.kh + r) * g.kw + t, ((n * g.c + c0 + ci) * g.h + h) * g.w + ww);
                }
              }
        }
}
