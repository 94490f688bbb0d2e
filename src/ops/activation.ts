import type { ActivationKind, Backend, BTensor } from '../backend/backend.js';
import { LayerFields, type FusedActivation, type LayerSpec, type Op, type Saved, type BackwardResult } from './op.js';

/**
 * Pointwise activations. The only ops (with the loss heads) that need second derivatives: backward2 adds
 * σ″(z)·ż·ȳ. Value and tangent streams go through one dispatch each way.
 */
export class Activation implements Op {
  readonly name = null;
  readonly params = [];
  readonly outShape: readonly number[];
  readonly epilogue: FusedActivation;
  constructor(
    readonly type: ActivationKind,
    readonly inShape: readonly number[],
    readonly beta = 1,
  ) {
    this.outShape = inShape;
    this.epilogue = { kind: type, beta };
  }

  static fromSpec(layer: LayerSpec, inShape: readonly number[], where: string): Activation {
    const f = new LayerFields(layer, where);
    if (layer.type === 'softplus') {
      f.only('beta');
      return new Activation('softplus', inShape, f.positive('beta', 1));
    }
    f.only();
    return new Activation(layer.type as ActivationKind, inShape);
  }

  forward(be: Backend, _batch: number, x: BTensor, xdot: BTensor | null) {
    const { y, ydot } = be.activation(this.type, this.beta, x, xdot);
    return { y, ydot, saved: { x, xdot } };
  }

  tangent(be: Backend, _batch: number, x: BTensor, xdot: BTensor | null) {
    // One dispatch makes value and tangent; the value is the kept one's twin and is dropped.
    const { y, ydot } = be.activation(this.type, this.beta, x, xdot);
    be.release(y);
    return { ydot };
  }

  backward(be: Backend, _batch: number, s: Saved, gy: BTensor, gydot: BTensor | null): BackwardResult {
    const { gz, gzdot } = be.activationBackward(this.type, this.beta, s.x, gy, s.xdot, gydot);
    return { gx: gz, gxdot: gzdot, params: {} };
  }
}
