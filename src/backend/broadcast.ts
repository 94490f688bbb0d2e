// Broadcast geometry shared by the backends: the checks of a BroadcastGeom, and the split of a `sumTo`
// into the dimensions it keeps and those it sums over (each with its stride in the summed tensor).
import { shapeStr, sizeOf } from '../tensor.js';
import { MAX_BROADCAST_RANK, type BroadcastGeom, type BTensor } from './backend.js';

/** Throws unless `g` reads inside `a` and `b` (strides within the operands' sizes) and has a legal rank. */
export function checkBroadcastGeom(a: BTensor, b: BTensor, g: BroadcastGeom, label: string): void {
  const r = g.shape.length;
  if (r === 0 || r > MAX_BROADCAST_RANK || g.a.length !== r || g.b.length !== r)
    throw new Error(`${label}: broadcast geometry of rank ${r} (1 to ${MAX_BROADCAST_RANK}, one stride per dimension)`);
  for (const [t, s] of [
    [a, g.a],
    [b, g.b],
  ] as const) {
    const last = g.shape.reduce((acc, d, i) => acc + (d - 1) * s[i], 0);
    if (s.some((v) => v < 0 || !Number.isInteger(v)) || last >= t.size)
      throw new Error(
        `${label}: strides ${shapeStr(s)} over ${shapeStr(g.shape)} read past ${t.label} (${t.size} values)`,
      );
  }
}

export interface Axis {
  size: number;
  stride: number;
}

/** The dimensions a sum keeps (in order: the output's row-major layout) and those it sums over. */
export function sumToPlan(
  from: readonly number[],
  to: readonly number[],
  label: string,
): { kept: Axis[]; summed: Axis[]; total: number; inner: number } {
  if (from.length !== to.length || from.length === 0 || from.length > MAX_BROADCAST_RANK)
    throw new Error(
      `${label}: sumTo needs shapes of one rank (1 to ${MAX_BROADCAST_RANK}): ${shapeStr(from)} → ${shapeStr(to)}`,
    );
  const kept: Axis[] = [],
    summed: Axis[] = [];
  let stride = 1;
  for (let d = from.length - 1; d >= 0; d--) {
    if (to[d] === from[d]) kept.unshift({ size: from[d], stride });
    else if (to[d] === 1) summed.unshift({ size: from[d], stride });
    else throw new Error(`${label}: cannot sum ${shapeStr(from)} to ${shapeStr(to)}`);
    stride *= from[d];
  }
  return { kept, summed, total: sizeOf(to), inner: summed.reduce((p, a) => p * a.size, 1) };
}

/** The flat offset of output index j when unravelled over `axes` (row-major, last fastest). */
export function offsetOf(j: number, axes: readonly Axis[]): number {
  let off = 0;
  for (let k = axes.length - 1; k >= 0; k--) {
    off += (j % axes[k].size) * axes[k].stride;
    j = Math.floor(j / axes[k].size);
  }
  return off;
}
