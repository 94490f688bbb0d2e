import type { Backend, BTensor, ChannelGeom } from '../backend/backend.js';
import { fail } from '../errors.js';
import { show } from '../validate.js';
import { sizeOf } from '../tensor.js';
import {
  LayerFields,
  type BackwardResult,
  type BackwardWants,
  type LayerSpec,
  type Op,
  type ParamValue,
  type Saved,
} from './op.js';

/**
 * Batch normalization in inference mode (PyTorch BatchNorm1d/2d in eval(), ONNX BatchNormalization):
 * y = (x − running_mean)/√(running_var + ε)·weight + bias per channel. Affine in x and in (weight, bias),
 * so backward2 has only the cross terms ȳ·k·ẇ (input) and ȳ·ẋ·k (weight); the running statistics are
 * buffers (constants). batchnorm2d reads [C, H, W], batchnorm1d reads [C] or [C, L].
 */
export class BatchNorm implements Op {
  readonly params;
  constructor(
    readonly type: 'batchnorm2d' | 'batchnorm1d',
    readonly name: string,
    readonly inShape: readonly number[],
    readonly eps: number,
  ) {
    const C = inShape[0];
    this.params = [
      { key: 'weight', shape: [C] },
      { key: 'bias', shape: [C] },
      { key: 'running_mean', shape: [C], buffer: true },
      { key: 'running_var', shape: [C], buffer: true },
    ];
  }
  get outShape(): readonly number[] {
    return this.inShape;
  }

  static fromSpec(layer: LayerSpec, inShape: readonly number[], where: string): BatchNorm {
    const f = new LayerFields(layer, where);
    f.only('name', 'eps');
    const type = layer.type as 'batchnorm2d' | 'batchnorm1d';
    const ok = type === 'batchnorm2d' ? inShape.length === 3 : inShape.length === 1 || inShape.length === 2;
    if (!ok)
      fail(
        'INVALID_SPEC',
        `${where}: ${type} expects ${type === 'batchnorm2d' ? 'a [C, H, W]' : 'a [C] or [C, L]'} input but gets ${show(inShape)}`,
      );
    // PyTorch's default ε.
    return new BatchNorm(type, f.name(), inShape, f.positive('eps', 1e-5));
  }

  private geom(batch: number): ChannelGeom {
    return { n: batch, channels: this.inShape[0], spatial: sizeOf(this.inShape) / this.inShape[0] };
  }
  private coefficients(be: Backend, p: Record<string, ParamValue>): BTensor {
    return be.batchNormCoefficients(
      p.running_mean.value,
      p.running_var.value,
      p.weight.value,
      p.bias.value,
      p.weight.tangent,
      p.bias.tangent,
      this.eps,
    );
  }

  forward(be: Backend, batch: number, x: BTensor, xdot: BTensor | null, p: Record<string, ParamValue>) {
    const coef = this.coefficients(be, p);
    const { y, ydot } = be.batchNorm(x, xdot, coef, this.geom(batch), !!(p.weight.tangent || p.bias.tangent));
    be.release(coef);
    return { y, ydot, saved: { x, xdot } };
  }

  backward(
    be: Backend,
    batch: number,
    s: Saved,
    gy: BTensor,
    gydot: BTensor | null,
    p: Record<string, ParamValue>,
    want: BackwardWants,
  ): BackwardResult {
    const g = this.geom(batch);
    const coef = this.coefficients(be, p);
    const out: BackwardResult = { gx: null, gxdot: null, params: {} };
    if (want.input) ({ gx: out.gx, gxdot: out.gxdot } = be.batchNormBackward(gy, gydot, coef, g, !!p.weight.tangent));
    if (want.params) {
      const { gw, gwdot } = be.batchNormWeightGrad(s.x, s.xdot, gy, gydot, coef, g);
      out.params.weight = { grad: gw, gradDot: gwdot };
      out.params.bias = {
        grad: be.channelSum(gy, g.channels, g.spatial),
        gradDot: gydot && be.channelSum(gydot, g.channels, g.spatial),
      };
    }
    be.release(coef);
    return out;
  }
}
