import type { Backend, BTensor, EpilogueActivation, MatmulOptions } from '../backend/backend.js';
import { fail } from '../errors.js';
import {
  fusedForward,
  fusedTangent,
  LayerFields,
  sumTerms,
  type FusedActivation,
  type LayerSpec,
  type Op,
  type ParamValue,
  type Saved,
  type BackwardWants,
  type BackwardResult,
} from './op.js';

/** Fully connected layer y = x Wᵀ + b with W [out, in] (PyTorch nn.Linear). Rows of x are examples. */
export class Dense implements Op {
  readonly type = 'dense';
  readonly outShape: number[];
  readonly params;
  constructor(
    readonly name: string,
    readonly inShape: readonly number[],
    readonly out: number,
    readonly bias: boolean,
  ) {
    this.outShape = [out];
    const inF = inShape[0];
    this.params = [{ key: 'weight', shape: [out, inF] }, ...(bias ? [{ key: 'bias', shape: [out] }] : [])];
  }

  static fromSpec(layer: LayerSpec, inShape: readonly number[], where: string): Dense {
    const f = new LayerFields(layer, where);
    f.only('name', 'out', 'bias');
    if (inShape.length !== 1) {
      fail(
        'INVALID_SPEC',
        `${where}: dense expects a flat input but gets [${inShape.join(', ')}]; add a flatten layer before it`,
      );
    }
    return new Dense(f.name(), inShape, f.int('out', undefined, 1), f.bool('bias', true));
  }

  readonly fusesActivation = true;

  forward(
    be: Backend,
    _batch: number,
    x: BTensor,
    xdot: BTensor | null,
    p: Record<string, ParamValue>,
    then?: FusedActivation,
  ) {
    const W = p.weight,
      b = p.bias;
    if (then) {
      // The same GEMMs as below, with the activation applied in their store (op.ts fusedForward).
      const gemm = (a: BTensor, w: BTensor, o: MatmulOptions, act: EpilogueActivation | null) =>
        act ? be.matmulActivated(a, w, o, act) : { z: be.matmul(a, w, o), a: null };
      const f = fusedForward(
        then,
        (act) => be.matmulActivated(x, W.value, { transB: true, bias: b?.value, label: `${this.name}.forward` }, act),
        [
          xdot &&
            ((into, act) =>
              gemm(xdot, W.value, { transB: true, bias: b?.tangent, into, label: `${this.name}.tangent.x` }, act)),
          W.tangent &&
            ((into, act) =>
              gemm(
                x,
                W.tangent!,
                { transB: true, bias: into ? null : b?.tangent, into, label: `${this.name}.tangent.w` },
                act,
              )),
        ],
      );
      return { y: f.y, ydot: f.ydot, saved: { x, xdot }, pre: f.pre };
    }
    const y = be.matmul(x, W.value, { transB: true, bias: b?.value, label: `${this.name}.forward` });
    const ydot = sumTerms([
      xdot &&
        ((into) => be.matmul(xdot, W.value, { transB: true, bias: b?.tangent, into, label: `${this.name}.tangent.x` })),
      W.tangent &&
        ((into) =>
          be.matmul(x, W.tangent!, {
            transB: true,
            bias: into ? null : b?.tangent,
            into,
            label: `${this.name}.tangent.w`,
          })),
    ]);
    return { y, ydot, saved: { x, xdot } };
  }

  tangent(
    be: Backend,
    _batch: number,
    x: BTensor,
    xdot: BTensor | null,
    p: Record<string, ParamValue>,
    _saved: Saved,
    then?: FusedActivation,
    pre?: BTensor,
  ) {
    // The tangent GEMMs of `forward`, without its value GEMM.
    const W = p.weight,
      b = p.bias;
    if (then) {
      const gemm = (a: BTensor, w: BTensor, o: MatmulOptions, act: EpilogueActivation | null) =>
        act ? be.matmulActivated(a, w, o, act) : { z: be.matmul(a, w, o), a: null };
      const t = fusedTangent(then, pre!, [
        xdot &&
          ((into, act) =>
            gemm(xdot, W.value, { transB: true, bias: b?.tangent, into, label: `${this.name}.tangent.x` }, act)),
        W.tangent &&
          ((into, act) =>
            gemm(
              x,
              W.tangent!,
              { transB: true, bias: into ? null : b?.tangent, into, label: `${this.name}.tangent.w` },
              act,
            )),
      ]);
      return { ydot: t.ydot, predot: t.zdot };
    }
    return {
      ydot: sumTerms([
        xdot &&
          ((into) =>
            be.matmul(xdot, W.value, { transB: true, bias: b?.tangent, into, label: `${this.name}.tangent.x` })),
        W.tangent &&
          ((into) =>
            be.matmul(x, W.tangent!, {
              transB: true,
              bias: into ? null : b?.tangent,
              into,
              label: `${this.name}.tangent.w`,
            })),
      ]),
    };
  }

  backward(
    be: Backend,
    _batch: number,
    s: Saved,
    gy: BTensor,
    gydot: BTensor | null,
    p: Record<string, ParamValue>,
    want: BackwardWants,
  ): BackwardResult {
    const W = p.weight;
    const n = this.name;
    const gx = want.input ? be.matmul(gy, W.value, { label: `${n}.backward.x` }) : null;
    const gxdot = want.input
      ? sumTerms([
          gydot && ((into) => be.matmul(gydot, W.value, { into, label: `${n}.backward2.x` })),
          W.tangent && ((into) => be.matmul(gy, W.tangent!, { into, label: `${n}.backward2.x.w` })),
        ])
      : null;
    const params: BackwardResult['params'] = {};
    if (want.params) {
      // W̄ = ȳᵀ x (ȳ stored [B, out], read transposed); its tangent ẏ̄ᵀ x + ȳᵀ ẋ.
      params.weight = {
        grad: want.paramTangentsOnly ? null : be.matmul(gy, s.x, { transA: true, label: `${n}.backward.w` }),
        gradDot: sumTerms([
          gydot && ((into) => be.matmul(gydot, s.x, { transA: true, into, label: `${n}.backward2.w` })),
          s.xdot && ((into) => be.matmul(gy, s.xdot!, { transA: true, into, label: `${n}.backward2.w.x` })),
        ]),
      };
      if (this.bias) {
        params.bias = {
          grad: want.paramTangentsOnly ? null : be.channelSum(gy, this.out, 1),
          gradDot: gydot && be.channelSum(gydot, this.out, 1),
        };
      }
    }
    return { gx, gxdot, params };
  }
}
