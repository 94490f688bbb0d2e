import type { Backend, BTensor, PoolGeom } from '../backend/backend.js';
import { fail } from '../errors.js';
import { LayerFields, windowOut, type LayerSpec, type Op, type Saved, type BackwardResult } from './op.js';

/** Window, stride, padding and rounding of a pooling layer (PyTorch's MaxPool2d/AvgPool2d arguments). */
export interface PoolConfig {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  ceilMode: boolean;
  /** Average pooling only: whether padded cells count in the divisor (PyTorch's count_include_pad). */
  countIncludePad: boolean;
}

/** Output length along one axis, as PyTorch: with ceilMode the last window must start inside the input or its left padding. */
function poolOut(where: string, size: number, k: number, s: number, p: number, ceil: boolean, axis: string): number {
  const floor = windowOut(where, size, k, s, p, axis);
  if (!ceil) return floor;
  let out = Math.ceil((size + 2 * p - k) / s) + 1;
  if ((out - 1) * s >= size + p) out--;
  return Math.max(out, floor);
}

/**
 * Max and average pooling, with padding (−∞ for max; for average, counted in the divisor or not) and
 * ceil mode. Both are linear in their input once max pooling's winners are fixed, so the tangent and
 * backward2 passes reuse the forward and backward kernels on the tangent stream, and no second-derivative
 * term appears.
 */
abstract class Pool2d implements Op {
  abstract readonly type: 'maxpool2d' | 'avgpool2d' | 'globalavgpool2d';
  readonly name = null;
  readonly params = [];
  readonly outShape: number[];
  constructor(
    readonly inShape: readonly number[],
    readonly config: PoolConfig,
    where: string,
  ) {
    const [c, h, w] = inShape,
      { kernel: k, stride: st, padding: p, ceilMode } = config;
    this.outShape = [
      c,
      poolOut(where, h, k[0], st[0], p[0], ceilMode, 'height'),
      poolOut(where, w, k[1], st[1], p[1], ceilMode, 'width'),
    ];
  }

  protected static parse(layer: LayerSpec, inShape: readonly number[], where: string): PoolConfig {
    const f = new LayerFields(layer, where);
    f.only('kernel', 'stride', 'padding', 'ceilMode', ...(layer.type === 'avgpool2d' ? ['countIncludePad'] : []));
    if (inShape.length !== 3)
      fail('INVALID_SPEC', `${where}: ${layer.type} expects a [C, H, W] input but gets [${inShape.join(', ')}]`);
    const kernel = f.pair('kernel', undefined, 1);
    const padding = f.pair('padding', 0, 0);
    // As PyTorch: every window must hold at least one input cell.
    for (const a of [0, 1]) {
      if (padding[a] > kernel[a] / 2)
        fail('INVALID_SPEC', `${where}: padding ${padding[a]} must be at most half the kernel ${kernel[a]}`);
    }
    // The stride defaults to the kernel, as in PyTorch.
    const stride = layer.stride === undefined ? kernel : f.pair('stride', undefined, 1);
    return {
      kernel,
      stride,
      padding,
      ceilMode: f.bool('ceilMode', false),
      countIncludePad: f.bool('countIncludePad', true),
    };
  }

  geom(batch: number): PoolGeom {
    const [c, h, w] = this.inShape,
      [, oh, ow] = this.outShape,
      { kernel: k, stride: s, padding: p } = this.config;
    return {
      n: batch,
      c,
      h,
      w,
      kh: k[0],
      kw: k[1],
      sh: s[0],
      sw: s[1],
      ph: p[0],
      pw: p[1],
      countIncludePad: this.config.countIncludePad,
      oh,
      ow,
    };
  }

  abstract forward(
    be: Backend,
    batch: number,
    x: BTensor,
    xdot: BTensor | null,
  ): { y: BTensor; ydot: BTensor | null; saved: Saved };
  abstract backward(be: Backend, batch: number, s: Saved, gy: BTensor, gydot: BTensor | null): BackwardResult;
}

export class MaxPool2d extends Pool2d {
  readonly type = 'maxpool2d';
  static fromSpec(layer: LayerSpec, inShape: readonly number[], where: string): MaxPool2d {
    return new MaxPool2d(inShape, Pool2d.parse(layer, inShape, where), where);
  }
  forward(be: Backend, batch: number, x: BTensor, xdot: BTensor | null) {
    const { y, argmax } = be.maxPool(x, this.geom(batch));
    // The tangent follows the winners: ẏ[i] = ẋ[argmax[i]].
    const ydot = xdot && be.gather(xdot, argmax, 'maxpool.tangent');
    return { y, ydot, saved: { x, xdot, argmax } };
  }
  tangent(be: Backend, _batch: number, _x: BTensor, xdot: BTensor | null, _p: unknown, saved: Saved) {
    return { ydot: xdot && be.gather(xdot, saved.argmax!, 'maxpool.tangent') };
  }
  backward(be: Backend, batch: number, s: Saved, gy: BTensor, gydot: BTensor | null): BackwardResult {
    const g = this.geom(batch);
    return {
      gx: be.maxPoolBackward(gy, s.argmax!, g),
      gxdot: gydot && be.maxPoolBackward(gydot, s.argmax!, g),
      params: {},
    };
  }
}

export class AvgPool2d extends Pool2d {
  readonly type: 'avgpool2d' | 'globalavgpool2d' = 'avgpool2d';
  static fromSpec(layer: LayerSpec, inShape: readonly number[], where: string): AvgPool2d {
    return new AvgPool2d(inShape, Pool2d.parse(layer, inShape, where), where);
  }
  forward(be: Backend, batch: number, x: BTensor, xdot: BTensor | null) {
    const g = this.geom(batch);
    return { y: be.avgPool(x, g), ydot: xdot && be.avgPool(xdot, g), saved: { x, xdot } };
  }
  tangent(be: Backend, batch: number, _x: BTensor, xdot: BTensor | null) {
    return { ydot: xdot && be.avgPool(xdot, this.geom(batch)) };
  }
  backward(be: Backend, batch: number, _s: Saved, gy: BTensor, gydot: BTensor | null): BackwardResult {
    const g = this.geom(batch);
    return { gx: be.avgPoolBackward(gy, g), gxdot: gydot && be.avgPoolBackward(gydot, g), params: {} };
  }
}

/**
 * Global average pooling [C, H, W] → [C, 1, 1] (PyTorch AdaptiveAvgPool2d(1), ONNX GlobalAveragePool):
 * average pooling whose one window is the whole plane.
 */
export class GlobalAvgPool2d extends AvgPool2d {
  override readonly type = 'globalavgpool2d';
  static override fromSpec(layer: LayerSpec, inShape: readonly number[], where: string): GlobalAvgPool2d {
    new LayerFields(layer, where).only();
    if (inShape.length !== 3)
      fail('INVALID_SPEC', `${where}: globalavgpool2d expects a [C, H, W] input but gets [${inShape.join(', ')}]`);
    const plane: [number, number] = [inShape[1], inShape[2]];
    return new GlobalAvgPool2d(
      inShape,
      { kernel: plane, stride: plane, padding: [0, 0], ceilMode: false, countIncludePad: true },
      where,
    );
  }
}
