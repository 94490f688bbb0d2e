import type { Backend, BTensor, ConvGeom, EpilogueActivation } from '../backend/backend.js';
import { fail } from '../errors.js';
import {
  fusedForward,
  fusedTangent,
  LayerFields,
  sumTerms,
  type FusedActivation,
  windowOut,
  type LayerSpec,
  type Op,
  type ParamValue,
  type Saved,
  type BackwardWants,
  type BackwardResult,
} from './op.js';

/** 2-D convolution (PyTorch nn.Conv2d: dilation, groups — depthwise when groups = in), W [out, in/groups, kh, kw], zero padding. */
export class Conv2d implements Op {
  readonly type = 'conv2d';
  readonly outShape: number[];
  readonly params;
  constructor(
    readonly name: string,
    readonly inShape: readonly number[],
    readonly out: number,
    readonly kernel: [number, number],
    readonly stride: [number, number],
    readonly padding: [number, number],
    readonly bias: boolean,
    where = name,
    readonly dilation: [number, number] = [1, 1],
    readonly groups = 1,
  ) {
    const [c, h, w] = inShape;
    if (c % groups !== 0 || out % groups !== 0) {
      fail('INVALID_SPEC', `${where}: groups ${groups} must divide both the input channels ${c} and 'out' ${out}`);
    }
    // A dilated kernel spans (k − 1)·d + 1 input cells.
    const oh = windowOut(where, h, (kernel[0] - 1) * dilation[0] + 1, stride[0], padding[0], 'height');
    const ow = windowOut(where, w, (kernel[1] - 1) * dilation[1] + 1, stride[1], padding[1], 'width');
    this.outShape = [out, oh, ow];
    this.params = [
      { key: 'weight', shape: [out, c / groups, kernel[0], kernel[1]] },
      ...(bias ? [{ key: 'bias', shape: [out] }] : []),
    ];
  }

  static fromSpec(layer: LayerSpec, inShape: readonly number[], where: string): Conv2d {
    const f = new LayerFields(layer, where);
    f.only('name', 'out', 'kernel', 'stride', 'padding', 'bias', 'dilation', 'groups');
    if (inShape.length !== 3)
      fail('INVALID_SPEC', `${where}: conv2d expects a [C, H, W] input but gets [${inShape.join(', ')}]`);
    return new Conv2d(
      f.name(),
      inShape,
      f.int('out', undefined, 1),
      f.pair('kernel', undefined, 1),
      f.pair('stride', 1, 1),
      f.pair('padding', 0, 0),
      f.bool('bias', true),
      where,
      f.pair('dilation', 1, 1),
      f.int('groups', 1, 1),
    );
  }

  geom(batch: number): ConvGeom {
    const [c, h, w] = this.inShape,
      [o, oh, ow] = this.outShape;
    return {
      n: batch,
      c,
      h,
      w,
      o,
      kh: this.kernel[0],
      kw: this.kernel[1],
      sh: this.stride[0],
      sw: this.stride[1],
      ph: this.padding[0],
      pw: this.padding[1],
      dh: this.dilation[0],
      dw: this.dilation[1],
      groups: this.groups,
      oh,
      ow,
    };
  }

  readonly fusesActivation = true;

  forward(
    be: Backend,
    batch: number,
    x: BTensor,
    xdot: BTensor | null,
    p: Record<string, ParamValue>,
    then?: FusedActivation,
  ) {
    const g = this.geom(batch),
      W = p.weight,
      b = p.bias;
    if (then) {
      // The same GEMMs as below, with the activation applied in their store (op.ts fusedForward).
      const conv = (
        a: BTensor,
        w: BTensor,
        bias: BTensor | null,
        into: BTensor | null,
        act: EpilogueActivation | null,
      ) => (act ? be.conv2dActivated(a, w, bias, g, act, into) : { z: be.conv2d(a, w, bias, g, into), a: null });
      const f = fusedForward(then, (act) => be.conv2dActivated(x, W.value, b?.value ?? null, g, act), [
        xdot && ((into, act) => conv(xdot, W.value, b?.tangent ?? null, into, act)),
        W.tangent && ((into, act) => conv(x, W.tangent!, into ? null : (b?.tangent ?? null), into, act)),
      ]);
      return { y: f.y, ydot: f.ydot, saved: { x, xdot }, pre: f.pre };
    }
    const y = be.conv2d(x, W.value, b?.value ?? null, g);
    const ydot = sumTerms([
      xdot && ((into) => be.conv2d(xdot, W.value, b?.tangent ?? null, g, into)),
      W.tangent && ((into) => be.conv2d(x, W.tangent!, into ? null : (b?.tangent ?? null), g, into)),
    ]);
    return { y, ydot, saved: { x, xdot } };
  }

  tangent(
    be: Backend,
    batch: number,
    x: BTensor,
    xdot: BTensor | null,
    p: Record<string, ParamValue>,
    _saved: Saved,
    then?: FusedActivation,
    pre?: BTensor,
  ) {
    // The tangent GEMMs of `forward`, without its value GEMM.
    const g = this.geom(batch),
      W = p.weight,
      b = p.bias;
    if (then) {
      const conv = (
        a: BTensor,
        w: BTensor,
        bias: BTensor | null,
        into: BTensor | null,
        act: EpilogueActivation | null,
      ) => (act ? be.conv2dActivated(a, w, bias, g, act, into) : { z: be.conv2d(a, w, bias, g, into), a: null });
      const t = fusedTangent(then, pre!, [
        xdot && ((into, act) => conv(xdot, W.value, b?.tangent ?? null, into, act)),
        W.tangent && ((into, act) => conv(x, W.tangent!, into ? null : (b?.tangent ?? null), into, act)),
      ]);
      return { ydot: t.ydot, predot: t.zdot };
    }
    return {
      ydot: sumTerms([
        xdot && ((into) => be.conv2d(xdot, W.value, b?.tangent ?? null, g, into)),
        W.tangent && ((into) => be.conv2d(x, W.tangent!, into ? null : (b?.tangent ?? null), g, into)),
      ]),
    };
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
    const g = this.geom(batch),
      W = p.weight;
    const gx = want.input ? be.conv2dBackwardInput(gy, W.value, g) : null;
    const gxdot = want.input
      ? sumTerms([
          gydot && ((into) => be.conv2dBackwardInput(gydot, W.value, g, into)),
          W.tangent && ((into) => be.conv2dBackwardInput(gy, W.tangent!, g, into)),
        ])
      : null;
    const params: BackwardResult['params'] = {};
    if (want.params) {
      params.weight = {
        grad: want.paramTangentsOnly ? null : be.conv2dBackwardFilter(gy, s.x, g),
        gradDot: sumTerms([
          gydot && ((into) => be.conv2dBackwardFilter(gydot, s.x, g, into)),
          s.xdot && ((into) => be.conv2dBackwardFilter(gy, s.xdot!, g, into)),
        ]),
      };
      if (this.bias) {
        const spatial = g.oh * g.ow;
        params.bias = {
          grad: want.paramTangentsOnly ? null : be.channelSum(gy, g.o, spatial),
          gradDot: gydot && be.channelSum(gydot, g.o, spatial),
        };
      }
    }
    return { gx, gxdot, params };
  }
}
