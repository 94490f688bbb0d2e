import type { Backend, BTensor, PoolGeom } from '../backend/backend.js';
import { fail } from '../errors.js';
import { LayerFields, windowOut, type LayerSpec, type Op, type Saved, type BackwardResult } from './op.js';

/**
 * Max and average pooling (no padding). Both are linear in their input once max pooling's winners are
 * fixed, so the tangent and backward2 passes reuse the forward and backward kernels on the tangent
 * stream, and no second-derivative term appears.
 */
abstract class Pool2d implements Op {
  abstract readonly type: 'maxpool2d' | 'avgpool2d' | 'globalavgpool2d';
  readonly name = null;
  readonly params = [];
  readonly outShape: number[];
  constructor(readonly inShape: readonly number[], readonly kernel: [number, number], readonly stride: [number, number], where: string) {
    const [c, h, w] = inShape;
    this.outShape = [c, windowOut(where, h, kernel[0], stride[0], 0, 'height'), windowOut(where, w, kernel[1], stride[1], 0, 'width')];
  }

  protected static parse(layer: LayerSpec, inShape: readonly number[], where: string): [[number, number], [number, number]] {
    const f = new LayerFields(layer, where);
    f.only('kernel', 'stride');
    if (inShape.length !== 3) fail('INVALID_SPEC', `${where}: ${layer.type} expects a [C, H, W] input but gets [${inShape.join(', ')}]`);
    const kernel = f.pair('kernel', undefined, 1);
    // The stride defaults to the kernel, as in PyTorch.
    return [kernel, layer.stride === undefined ? kernel : f.pair('stride', undefined, 1)];
  }

  geom(batch: number): PoolGeom {
    const [c, h, w] = this.inShape, [, oh, ow] = this.outShape;
    return { n: batch, c, h, w, kh: this.kernel[0], kw: this.kernel[1], sh: this.stride[0], sw: this.stride[1], oh, ow };
  }

  abstract forward(be: Backend, batch: number, x: BTensor, xdot: BTensor | null): { y: BTensor; ydot: BTensor | null; saved: Saved };
  abstract backward(be: Backend, batch: number, s: Saved, gy: BTensor, gydot: BTensor | null): BackwardResult;
}

export class MaxPool2d extends Pool2d {
  readonly type = 'maxpool2d';
  static fromSpec(layer: LayerSpec, inShape: readonly number[], where: string): MaxPool2d {
    const [k, s] = Pool2d.parse(layer, inShape, where);
    return new MaxPool2d(inShape, k, s, where);
  }
  forward(be: Backend, batch: number, x: BTensor, xdot: BTensor | null) {
    const { y, argmax } = be.maxPool(x, this.geom(batch));
    // The tangent follows the winners: ẏ[i] = ẋ[argmax[i]].
    const ydot = xdot && be.gather(xdot, argmax, 'maxpool.tangent');
    return { y, ydot, saved: { x, xdot, argmax } };
  }
  backward(be: Backend, batch: number, s: Saved, gy: BTensor, gydot: BTensor | null): BackwardResult {
    const g = this.geom(batch);
    return { gx: be.maxPoolBackward(gy, s.argmax!, g), gxdot: gydot && be.maxPoolBackward(gydot, s.argmax!, g), params: {} };
  }
}

export class AvgPool2d extends Pool2d {
  readonly type: 'avgpool2d' | 'globalavgpool2d' = 'avgpool2d';
  static fromSpec(layer: LayerSpec, inShape: readonly number[], where: string): AvgPool2d {
    const [k, s] = Pool2d.parse(layer, inShape, where);
    return new AvgPool2d(inShape, k, s, where);
  }
  forward(be: Backend, batch: number, x: BTensor, xdot: BTensor | null) {
    const g = this.geom(batch);
    return { y: be.avgPool(x, g), ydot: xdot && be.avgPool(xdot, g), saved: { x, xdot } };
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
    if (inShape.length !== 3) fail('INVALID_SPEC', `${where}: globalavgpool2d expects a [C, H, W] input but gets [${inShape.join(', ')}]`);
    return new GlobalAvgPool2d(inShape, [inShape[1], inShape[2]], [inShape[1], inShape[2]], where);
  }
}
