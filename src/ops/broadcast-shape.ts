// Numpy broadcasting of shapes for the elementwise layers: the broadcast shape, and the BroadcastGeom
// (strides, 0 along a broadcast dimension) with which the backend reads each operand.
import type { Backend, BinaryKind, BroadcastGeom, BTensor } from '../backend/backend.js';
import { MAX_BROADCAST_RANK } from '../backend/backend.js';

/** `s` padded in front with 1s to rank `r`. */
export const alignRank = (s: readonly number[], r: number): number[] => [...new Array(r - s.length).fill(1), ...s];

/** The numpy broadcast of two shapes (aligned at the right), or null when a dimension differs and neither is 1. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | null {
  const r = Math.max(a.length, b.length);
  const [x, y] = [alignRank(a, r), alignRank(b, r)];
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    if (x[i] !== y[i] && x[i] !== 1 && y[i] !== 1) return null;
    out.push(x[i] === 1 ? y[i] : x[i]);
  }
  return out;
}

/** Row-major strides of `s` over `out` (same rank), 0 where `s` is 1 (broadcast). */
function stridesOver(s: readonly number[], out: readonly number[]): number[] {
  const st = new Array<number>(s.length);
  let acc = 1;
  for (let i = s.length - 1; i >= 0; i--) {
    st[i] = s[i] === 1 && out[i] !== 1 ? 0 : acc;
    acc *= s[i];
  }
  return st;
}

/**
 * One operand: a tensor and its full shape (batch leading when it has one). `zero`: the tensor is a single
 * 0 standing for zeros of `shape` (a missing tangent), read with stride 0 everywhere.
 */
export type Operand = { t: BTensor; shape: readonly number[]; zero?: boolean };

/** A single 0 standing for zeros of `shape`; the caller releases `.t`. */
export const zeroOperand = (be: Backend, shape: readonly number[]): Operand => ({
  t: be.zeros([1], 'zero'),
  shape,
  zero: true,
});

/** The geometry of `a ∘ b` (both of rank ≤ MAX_BROADCAST_RANK and broadcastable). */
export function geomOf(a: Operand, b: Operand): BroadcastGeom {
  const r = Math.max(a.shape.length, b.shape.length);
  if (r > MAX_BROADCAST_RANK) throw new Error(`broadcast of rank ${r} > ${MAX_BROADCAST_RANK}`);
  const shape = broadcastShape(a.shape, b.shape);
  if (!shape) throw new Error(`shapes [${a.shape}] and [${b.shape}] do not broadcast`);
  const strides = (o: Operand) => (o.zero ? shape.map(() => 0) : stridesOver(alignRank(o.shape, r), shape));
  return { shape, a: strides(a), b: strides(b) };
}

/** `a ∘ b` under broadcasting, with its full shape. */
export function binary(be: Backend, kind: BinaryKind, a: Operand, b: Operand, label: string): Operand {
  const g = geomOf(a, b);
  return { t: be.broadcastBinary(kind, a.t, b.t, g, label), shape: g.shape };
}

/** scale · `t` (of full shape `from`) summed down to `to` (rank ≤ from's; aligned at the right). */
export function sumDown(
  be: Backend,
  t: BTensor,
  from: readonly number[],
  to: readonly number[],
  scale: number,
  label: string,
) {
  return be.sumTo(t, from, alignRank(to, from.length), scale, label);
}
