import type { Backend, BinaryKind, BTensor } from '../backend/backend.js';
import { fail } from '../errors.js';
import { show } from '../validate.js';
import { shapeStr } from '../tensor.js';
import { binary, broadcastShape, sumDown, zeroOperand, type Operand } from './broadcast-shape.js';
import {
  LayerFields,
  MAX_SPEC_INT,
  type BackwardResult,
  type BackwardWants,
  type LayerSpec,
  type Op,
  type ParamSpec,
  type ParamValue,
  type Saved,
} from './op.js';

/** Field names of the constant operand: the parameter's full name and its shape. */
export const CONSTANT_FIELDS = ['param', 'shape', 'constantFirst'] as const;

/**
 * y = x ∘ c for ∘ ∈ {+, −, ×, ÷} and a constant c that numpy-broadcasts against [batch, …x] (a per-channel
 * scale [C, 1, 1], a scalar, a full tensor): ONNX Add/Sub/Mul/Div with an initializer, input
 * normalisation. c is a parameter under its own full name (`param`, the ONNX initializer's name), so it has
 * gradients (summed over the dimensions it was broadcast along) and tangents like any weight.
 * `constantFirst` gives c − x; c ÷ x is refused (not needed by the exports we read).
 *
 * Passes (′ broadcast, Σ the sum back to an operand's shape):
 *   +/−  ẏ = ẋ ± ċ          x̄ = Σ ȳ, c̄ = ±Σ ȳ        (linear: backward2 is backward on ẏ̄)
 *   ×    ẏ = ẋc + xċ        x̄ = Σ ȳc, c̄ = Σ ȳx       x̄̇ = Σ(ẏ̄c + ȳċ), c̄̇ = Σ(ẏ̄x + ȳẋ)
 *   ÷    ẏ = (ẋ − yċ)/c     x̄ = Σ ȳ/c, c̄ = −Σ ȳy/c   x̄̇ = Σ(ẏ̄ − (ȳ/c)ċ)/c, c̄̇ = −Σ(ẏ̄x + ȳẋ)/c² + 2Σ(ȳy/c)ċ/c
 */
export class ConstBinary implements Op {
  readonly params: ParamSpec[];
  readonly outShape: readonly number[];
  constructor(
    readonly type: BinaryKind,
    readonly name: string,
    readonly inShape: readonly number[],
    readonly constShape: readonly number[],
    readonly constantFirst: boolean,
  ) {
    this.params = [{ key: 'constant', shape: [...constShape], fullName: name }];
    this.outShape = broadcastShape([1, ...inShape], constShape)!.slice(1);
  }

  static fromSpec(layer: LayerSpec, inShape: readonly number[], where: string): ConstBinary {
    const f = new LayerFields(layer, where);
    f.only(...CONSTANT_FIELDS);
    const kind = layer.type as BinaryKind;
    const param = layer.param;
    if (typeof param !== 'string' || !/^[\w.:/-]{1,256}$/.test(param))
      fail(
        'INVALID_SPEC',
        `${where}: field 'param' must name the constant operand (letters, digits, _ . : / -; at most 256), got ${show(param)}`,
      );
    const s = layer.shape;
    const rank = inShape.length + 1;
    if (
      !Array.isArray(s) ||
      s.length > rank ||
      !s.every((d) => Number.isInteger(d) && d > 0 && d <= MAX_SPEC_INT) ||
      (s.length === rank && s[0] !== 1)
    ) {
      fail(
        'INVALID_SPEC',
        `${where}: field 'shape' must be the constant's shape: at most ${rank} positive integers, a leading (batch) dimension being 1, got ${show(s)}`,
      );
    }
    const out = broadcastShape([1, ...inShape], s);
    if (!out || out.length > 4)
      fail(
        'INVALID_SPEC',
        `${where}: a constant of shape ${shapeStr(s)} does not broadcast against the input [batch, ${inShape.join(', ')}]`,
      );
    const first = f.bool('constantFirst', false);
    if (first && kind === 'div')
      fail('INVALID_SPEC', `${where}: constantFirst (c ÷ x) is not supported for div; only x ÷ c`);
    return new ConstBinary(kind, param, inShape, [...s], first && kind === 'sub');
  }

  private full(batch: number) {
    return { x: [batch, ...this.inShape], y: [batch, ...this.outShape] };
  }

  forward(be: Backend, batch: number, x: BTensor, xdot: BTensor | null, p: Record<string, ParamValue>) {
    const { x: xs, y: ys } = this.full(batch);
    const c: Operand = { t: p.constant.value, shape: this.constShape },
      cdot = p.constant.tangent;
    const X: Operand = { t: x, shape: xs };
    const tmp: BTensor[] = [];
    const keep = (o: Operand) => (tmp.push(o.t), o);
    const k = this.type;
    const y = this.constantFirst ? binary(be, k, c, X, k) : binary(be, k, X, c, k);
    let ydot: BTensor | null = null;
    if (xdot || cdot) {
      const Xd: Operand | null = xdot ? { t: xdot, shape: xs } : null;
      const Cd: Operand | null = cdot ? { t: cdot, shape: this.constShape } : null;
      const zero = (shape: readonly number[]): Operand => keep(zeroOperand(be, shape));
      const lbl = `${k} tangent`;
      if (k === 'add' || k === 'sub') {
        // The same map on the tangents (a missing one is zero); ẋ alone passes through when nothing broadcasts it.
        if (Xd && !Cd && !this.constantFirst && shapeStr(xs) === shapeStr(ys)) ydot = xdot;
        else
          ydot = (
            this.constantFirst
              ? binary(be, k, Cd ?? zero(this.constShape), Xd ?? zero(xs), lbl)
              : binary(be, k, Xd ?? zero(xs), Cd ?? zero(this.constShape), lbl)
          ).t;
      } else if (k === 'mul') {
        const terms = [Xd && binary(be, 'mul', Xd, c, lbl).t, Cd && binary(be, 'mul', X, Cd, lbl).t].filter(
          (t): t is BTensor => !!t,
        );
        ydot = terms.length === 2 ? be.add(terms[0], terms[1], lbl) : terms[0];
        if (terms.length === 2) tmp.push(...terms);
      } else {
        const num = Cd ? keep(binary(be, 'sub', Xd ?? zero(xs), keep(binary(be, 'mul', y, Cd, lbl)), lbl)) : Xd!;
        ydot = binary(be, 'div', num, c, lbl).t;
      }
    }
    be.release(...tmp);
    return { y: y.t, ydot, saved: { x, xdot } };
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
    const { x: xs, y: ys } = this.full(batch);
    const cs = this.constShape;
    const c: Operand = { t: p.constant.value, shape: cs },
      cdot = p.constant.tangent;
    const X: Operand = { t: s.x, shape: xs };
    const G: Operand = { t: gy, shape: ys };
    const Gd: Operand | null = gydot ? { t: gydot, shape: ys } : null;
    const Xd: Operand | null = s.xdot ? { t: s.xdot, shape: xs } : null;
    const Cd: Operand | null = cdot ? { t: cdot, shape: cs } : null;
    const tmp: BTensor[] = [];
    const keep = (o: Operand) => (tmp.push(o.t), o);
    const k = this.type;
    // Σ of a full-shape term down to an operand's shape, times `scale`; `term` null → null.
    const down = (term: Operand | null, to: readonly number[], scale: number, label: string) =>
      term ? sumDown(be, term.t, ys, to, scale, label) : null;
    // Σ of a sum of terms (the nulls skipped): each term summed down, the small results added.
    const downSum = (terms: (Operand | null)[], to: readonly number[], scales: number[], label: string) => {
      const parts = terms.flatMap((t, i) => (t ? [down(t, to, scales[i], label)!] : []));
      if (parts.length < 2) return parts[0] ?? null;
      tmp.push(...parts);
      return be.add(parts[0], parts[1], label);
    };
    let gx: BTensor | null = null,
      gxdot: BTensor | null = null,
      gc: BTensor | null = null,
      gcdot: BTensor | null = null;
    if (k === 'add' || k === 'sub') {
      const sx = k === 'sub' && this.constantFirst ? -1 : 1,
        sc = k === 'sub' && !this.constantFirst ? -1 : 1;
      const same = shapeStr(xs) === shapeStr(ys) && sx === 1;
      if (want.input) {
        gx = same ? gy : down(G, xs, sx, `${k} backward`);
        gxdot = same ? gydot : down(Gd, xs, sx, `${k} backward2`);
      }
      if (want.params) {
        gc = down(G, cs, sc, `${k} constant gradient`);
        gcdot = down(Gd, cs, sc, `${k} constant gradient tangent`);
      }
    } else if (k === 'mul') {
      const l = 'mul backward';
      const mul = (a: Operand | null, b: Operand | null) => (a && b ? keep(binary(be, 'mul', a, b, l)) : null);
      if (want.input) {
        gx = down(mul(G, c), xs, 1, l);
        gxdot = downSum([mul(Gd, c), mul(G, Cd)], xs, [1, 1], `${l}2`);
      }
      if (want.params) {
        gc = down(mul(G, X), cs, 1, 'mul constant gradient');
        gcdot = downSum([mul(Gd, X), mul(G, Xd)], cs, [1, 1], 'mul constant gradient tangent');
      }
    } else {
      const l = 'div backward';
      const op = (kind: BinaryKind, a: Operand, b: Operand) => keep(binary(be, kind, a, b, l));
      const gOverC = op('div', G, c);
      if (want.input) {
        gx = down(gOverC, xs, 1, l);
        // x̄̇ = Σ ẏ̄/c − Σ (ȳ/c)ċ/c
        gxdot = downSum([Gd && op('div', Gd, c), Cd && op('div', op('mul', gOverC, Cd), c)], xs, [1, -1], `${l}2`);
      }
      if (want.params) {
        const q = op('mul', gOverC, op('div', X, c)); // ȳ·y/c = ȳx/c²
        gc = down(q, cs, -1, 'div constant gradient');
        const u = [Gd && op('mul', Gd, X), Xd && op('mul', G, Xd)].filter((t): t is Operand => !!t);
        const uSum = u.length === 2 ? keep({ t: be.add(u[0].t, u[1].t, l), shape: ys }) : (u[0] ?? null);
        gcdot = downSum(
          [uSum && op('div', op('div', uSum, c), c), Cd && op('div', op('mul', q, Cd), c)],
          cs,
          [-1, 2],
          'div constant gradient tangent',
        );
      }
    }
    be.release(...tmp);
    return { gx, gxdot, params: want.params ? { constant: { grad: gc!, gradDot: gcdot } } : {} };
  }
}
