import type { Backend, BTensor } from '../backend/backend.js';
import { sizeOf } from '../tensor.js';
import { LayerFields, type LayerSpec, type Op, type Saved, type BackwardResult } from './op.js';

/** [C, H, W] → [C·H·W]. Row-major storage is unchanged, so every pass hands its tensor through as is. */
export class Flatten implements Op {
  readonly type = 'flatten';
  readonly name = null;
  readonly params = [];
  readonly outShape: readonly number[];
  constructor(readonly inShape: readonly number[]) {
    this.outShape = [sizeOf(inShape)];
  }
  static fromSpec(layer: LayerSpec, inShape: readonly number[], where: string): Flatten {
    new LayerFields(layer, where).only();
    return new Flatten(inShape);
  }
  forward(_be: Backend, _batch: number, x: BTensor, xdot: BTensor | null) {
    return { y: x, ydot: xdot, saved: { x, xdot } };
  }
  tangent(_be: Backend, _batch: number, _x: BTensor, xdot: BTensor | null) {
    return { ydot: xdot };
  }
  backward(_be: Backend, _batch: number, _s: Saved, gy: BTensor, gydot: BTensor | null): BackwardResult {
    return { gx: gy, gxdot: gydot, params: {} };
  }
}
