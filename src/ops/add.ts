import type { Backend, BTensor } from '../backend/backend.js';
import { fail } from '../errors.js';
import { shapeStr } from '../tensor.js';
import { binary, broadcastShape, sumDown, zeroOperand, type Operand } from './broadcast-shape.js';
import { LayerFields, type JoinOp, type LayerSpec } from './op.js';

/**
 * y = a + b or a − b of two values whose per-example shapes numpy-broadcast (equal shapes: a residual
 * connection). Linear, so the tangent is the same map on the tangents, and backward hands ȳ to each input
 * (summed over the dimensions it was broadcast along, negated for the subtrahend); backward2 is backward on ẏ̄.
 */
export class Add implements JoinOp {
  readonly name = null;
  readonly join = true as const;
  readonly params = [];
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  constructor(
    readonly inShapes: readonly (readonly number[])[],
    readonly type: 'add' | 'sub' = 'add',
  ) {
    this.inShape = inShapes[0];
    this.outShape = broadcastShape(inShapes[0], inShapes[1])!;
  }

  static fromSpec(layer: LayerSpec, inShapes: readonly (readonly number[])[], where: string): Add {
    new LayerFields(layer, where).only();
    const type = layer.type as 'add' | 'sub';
    if (inShapes.length !== 2)
      fail(
        'INVALID_SPEC',
        `${where}: ${type === 'add' ? 'an add' : 'a sub'} layer needs exactly 2 'inputs' (or a constant 'param'), got ${inShapes.length}`,
      );
    const out = broadcastShape(inShapes[0], inShapes[1]);
    if (!out || out.length !== Math.max(inShapes[0].length, inShapes[1].length) || out.length > 3) {
      fail(
        'INVALID_SPEC',
        `${where}: ${type} needs inputs of one shape or shapes that broadcast (numpy rules), but input 1 is ${shapeStr(inShapes[1])} and input 0 is ${shapeStr(inShapes[0])}`,
      );
    }
    return new Add(inShapes, type);
  }

  private operands(batch: number, ts: readonly (BTensor | null)[], be: Backend, tmp: BTensor[]): Operand[] {
    return ts.map((t, i) => {
      const shape = [batch, ...this.inShapes[i]];
      if (t) return { t, shape };
      const z = zeroOperand(be, shape);
      tmp.push(z.t);
      return z;
    });
  }

  private get plain(): boolean {
    return this.type === 'add' && this.inShapes.every((s) => shapeStr(s) === shapeStr(this.outShape));
  }

  forwardJoin(be: Backend, batch: number, xs: readonly BTensor[], xdots: readonly (BTensor | null)[]) {
    if (this.plain) {
      const y = be.add(xs[0], xs[1], 'add');
      const [a, b] = xdots;
      // A null tangent is zero: with one tangent the output's tangent is that tensor itself (the sweep counts references).
      const ydot = a && b ? be.add(a, b, 'add tangent') : (a ?? b ?? null);
      return { y, ydot };
    }
    const tmp: BTensor[] = [];
    const [a, b] = this.operands(batch, xs, be, tmp);
    const y = binary(be, this.type, a, b, this.type).t;
    let ydot: BTensor | null = null;
    if (xdots[0] || xdots[1]) {
      const [ad, bd] = this.operands(batch, xdots, be, tmp);
      ydot = binary(be, this.type, ad, bd, `${this.type} tangent`).t;
    }
    be.release(...tmp);
    return { y, ydot };
  }

  backwardJoin(be: Backend, batch: number, gy: BTensor, gydot: BTensor | null) {
    // ∂y/∂xᵢ = ±I (broadcast): every input receives ±ȳ (and its tangent), summed back to its own shape.
    if (this.plain) return { gxs: this.inShapes.map(() => gy), gxdots: this.inShapes.map(() => gydot) };
    const ys = [batch, ...this.outShape];
    const to = (t: BTensor | null, i: number) => {
      const xs = [batch, ...this.inShapes[i]];
      const sign = i === 1 && this.type === 'sub' ? -1 : 1;
      if (!t) return null;
      if (sign === 1 && shapeStr(xs) === shapeStr(ys)) return t;
      return sumDown(be, t, ys, xs, sign, `${this.type} backward`);
    };
    return { gxs: [to(gy, 0)!, to(gy, 1)!], gxdots: [to(gydot, 0), to(gydot, 1)] };
  }
}
