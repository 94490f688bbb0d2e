import type { Backend, BTensor } from '../backend/backend.js';
import { fail } from '../errors.js';
import { shapeStr } from '../tensor.js';
import { LayerFields, type JoinOp, type LayerSpec } from './op.js';

/** y = a + b (same shapes): a residual connection. Linear, so every pass is a sum or hands a tensor through. */
export class Add implements JoinOp {
  readonly type = 'add';
  readonly name = null;
  readonly join = true as const;
  readonly params = [];
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  constructor(readonly inShapes: readonly (readonly number[])[]) {
    this.inShape = inShapes[0];
    this.outShape = inShapes[0];
  }

  static fromSpec(layer: LayerSpec, inShapes: readonly (readonly number[])[], where: string): Add {
    new LayerFields(layer, where).only();
    if (inShapes.length !== 2)
      fail('INVALID_SPEC', `${where}: an add layer needs exactly 2 'inputs', got ${inShapes.length}`);
    for (const [i, s] of inShapes.entries()) {
      if (shapeStr(s) !== shapeStr(inShapes[0])) {
        fail(
          'INVALID_SPEC',
          `${where}: add needs inputs of one shape, but input ${i} is ${shapeStr(s)} and input 0 is ${shapeStr(inShapes[0])}`,
        );
      }
    }
    return new Add(inShapes);
  }

  forwardJoin(be: Backend, _batch: number, xs: readonly BTensor[], xdots: readonly (BTensor | null)[]) {
    const y = be.add(xs[0], xs[1], 'add');
    const [a, b] = xdots;
    // A null tangent is zero: with one tangent the output's tangent is that tensor itself (the sweep counts references).
    const ydot = a && b ? be.add(a, b, 'add tangent') : (a ?? b ?? null);
    return { y, ydot };
  }

  backwardJoin(_be: Backend, _batch: number, gy: BTensor, gydot: BTensor | null) {
    // ∂y/∂xᵢ = I: every input receives the output's gradient (and its tangent) as is.
    return { gxs: this.inShapes.map(() => gy), gxdots: this.inShapes.map(() => gydot) };
  }
}
