import type { Backend, BTensor } from '../backend/backend.js';
import { fail } from '../errors.js';
import { shapeStr, sizeOf } from '../tensor.js';
import { LayerFields, type JoinOp, type LayerSpec } from './op.js';

/**
 * Concatenation along channels (the first per-example axis: torch.cat(dim=1), ONNX Concat axis 1). Each
 * input is one contiguous block per example, so every pass is block copies: the forward and tangent place
 * the inputs side by side, the backward slices the gradient (and its tangent) back.
 */
export class Concat implements JoinOp {
  readonly type = 'concat';
  readonly name = null;
  readonly join = true as const;
  readonly params = [];
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  private readonly sizes: number[];
  constructor(readonly inShapes: readonly (readonly number[])[]) {
    this.inShape = inShapes[0];
    this.outShape = [inShapes.reduce((s, x) => s + x[0], 0), ...inShapes[0].slice(1)];
    this.sizes = inShapes.map(sizeOf);
  }

  static fromSpec(layer: LayerSpec, inShapes: readonly (readonly number[])[], where: string): Concat {
    new LayerFields(layer, where).only();
    if (inShapes.length < 2)
      fail('INVALID_SPEC', `${where}: a concat layer needs at least 2 'inputs', got ${inShapes.length}`);
    for (const [i, s] of inShapes.entries()) {
      if (s.length !== inShapes[0].length || shapeStr(s.slice(1)) !== shapeStr(inShapes[0].slice(1))) {
        fail(
          'INVALID_SPEC',
          `${where}: concat joins along channels, so inputs must agree after the first axis, but input ${i} is ${shapeStr(s)} and input 0 is ${shapeStr(inShapes[0])}`,
        );
      }
    }
    return new Concat(inShapes);
  }

  private place(be: Backend, batch: number, parts: readonly (BTensor | null)[], label: string): BTensor {
    const total = sizeOf(this.outShape);
    const shape = [batch, ...this.outShape];
    // Absent (zero) tangents leave zeros: start from zeros only when some part is absent.
    let y: BTensor | null = parts.every((p) => p) ? null : be.zeros(shape, `${label} (zeros)`);
    let offset = 0;
    parts.forEach((p, i) => {
      if (p)
        y = be.copyBlocks(
          p,
          {
            n: batch,
            length: this.sizes[i],
            srcBlock: this.sizes[i],
            srcOffset: 0,
            dstBlock: total,
            dstOffset: offset,
          },
          y,
          shape,
          label,
        );
      offset += this.sizes[i];
    });
    return y!;
  }

  private slice(be: Backend, batch: number, g: BTensor, label: string): BTensor[] {
    const total = sizeOf(this.outShape);
    let offset = 0;
    return this.inShapes.map((s, i) => {
      const t = be.copyBlocks(
        g,
        { n: batch, length: this.sizes[i], srcBlock: total, srcOffset: offset, dstBlock: this.sizes[i], dstOffset: 0 },
        null,
        [batch, ...s],
        `${label} ${i}`,
      );
      offset += this.sizes[i];
      return t;
    });
  }

  forwardJoin(be: Backend, batch: number, xs: readonly BTensor[], xdots: readonly (BTensor | null)[]) {
    return {
      y: this.place(be, batch, xs, 'concat'),
      ydot: xdots.some((t) => t) ? this.place(be, batch, xdots, 'concat tangent') : null,
    };
  }

  backwardJoin(be: Backend, batch: number, gy: BTensor, gydot: BTensor | null) {
    return {
      gxs: this.slice(be, batch, gy, 'concat backward'),
      gxdots: gydot ? this.slice(be, batch, gydot, 'concat backward2') : this.inShapes.map(() => null),
    };
  }
}
