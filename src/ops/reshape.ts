import type { Backend, BTensor } from '../backend/backend.js';
import { fail } from '../errors.js';
import { show } from '../validate.js';
import { shapeStr, sizeOf } from '../tensor.js';
import { LayerFields, MAX_SPEC_INT, type BackwardResult, type LayerSpec, type Op, type Saved } from './op.js';

/**
 * A new per-example shape with the same number of values (PyTorch `view`/`reshape`, the batch kept in front).
 * Row-major storage is unchanged, so every pass hands its tensor through as is.
 */
export class Reshape implements Op {
  readonly type = 'reshape';
  readonly name = null;
  readonly params = [];
  constructor(
    readonly inShape: readonly number[],
    readonly outShape: readonly number[],
  ) {}

  static fromSpec(layer: LayerSpec, inShape: readonly number[], where: string): Reshape {
    new LayerFields(layer, where).only('shape');
    const s = layer.shape;
    if (
      !Array.isArray(s) ||
      s.length === 0 ||
      s.length > 3 ||
      !s.every((d) => Number.isInteger(d) && d > 0 && d <= MAX_SPEC_INT)
    ) {
      fail(
        'INVALID_SPEC',
        `${where}: field 'shape' must be 1 to 3 positive integers (the per-example shape, batch excluded), got ${show(s)}`,
      );
    }
    if (sizeOf(s) !== sizeOf(inShape)) {
      fail(
        'INVALID_SPEC',
        `${where}: cannot reshape ${shapeStr(inShape)} (${sizeOf(inShape)} values) to ${shapeStr(s)} (${sizeOf(s)} values)`,
      );
    }
    return new Reshape(inShape, [...s]);
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
