// The memory a sweep holds at its peak, from the graph's liveness: the same rule sweep.ts releases tensors
// by (a value lives until the backward of its first reader; a gradient from its last reader's backward to
// its producer's), so that the sampling engine sizes its chunks by the real peak of a deep graph rather
// than by a multiple of the sum of every layer's output.
import { Conv2d } from '../ops/conv2d.js';
import { Dense } from '../ops/dense.js';
import { isJoin, type GraphOp } from '../ops/op.js';
import { sizeOf } from '../tensor.js';
import type { Graph } from './spec.js';

/** Extra tensors an op holds while its own passes run (broadcast temporaries), or until its backward (max pooling's winners). */
function workspace(op: GraphOp): { transient: number[]; saved: number[]; table?: number } {
  const out = sizeOf(op.outShape);
  if (op.type === 'maxpool2d') return { transient: [], saved: [out] };
  // Batch norm's coefficient table [6, C], made by each pass (not per row).
  if (op.type.startsWith('batchnorm')) return { transient: [], saved: [], table: 6 * op.inShape[0] };
  const broadcastJoin = isJoin(op) && (op.type === 'sub' || op.inShapes.some((s) => sizeOf(s) !== out));
  // Elementwise layers with a constant, and add/sub that broadcast: up to three full-size terms at once.
  if (['mul', 'div'].includes(op.type) || (!isJoin(op) && ['add', 'sub'].includes(op.type)) || broadcastJoin)
    return { transient: [out, out, out], saved: [] };
  return { transient: [], saved: [] };
}

type Gemm = [M: number, N: number, K: number];

/**
 * The GEMMs of a dense or conv op's forward and of its input gradient (per group, implicit GEMM for conv):
 * their scratch (split-K partials on webgpu) is live while the op's pass runs.
 */
function gemms(op: GraphOp, rows: number): { forward: Gemm[]; backward: Gemm[] } {
  if (op instanceof Dense)
    return { forward: [[rows, op.out, op.inShape[0]]], backward: [[rows, op.inShape[0], op.out]] };
  if (op instanceof Conv2d) {
    const g = op.geom(rows),
      G = g.groups;
    return {
      forward: [[g.n * g.oh * g.ow, g.o / G, (g.c / G) * g.kh * g.kw]],
      backward: [[g.n * g.h * g.w, g.c / G, (g.o / G) * g.kh * g.kw]],
    };
  }
  return { forward: [], backward: [] };
}

export interface PeakOptions {
  /** Tangents flow alongside values and gradients (input HVPs, the Hessian-tangent methods): twice the tensors. */
  tangent: boolean;
  /** Examples (rows) the sweep runs at once. */
  rows: number;
  /** The bytes a tensor of `bytes` occupies on the backend (its allocator's size class). */
  bufferBytes: (bytes: number) => number;
  /** Scratch bytes of a GEMM of M×N×K (see Backend.gemmScratchBytes). */
  gemmScratchBytes: (M: number, N: number, K: number) => number;
}

/**
 * Bytes a backend holds at the peak of a gradient sweep (forward, head, backward) through `graph`. Tensors
 * are counted per allocation size: a pooling allocator reuses a released buffer only for a tensor of the
 * same size class, so what it holds is, summed over the classes, the most tensors of each class live at
 * once (a backend without a pool holds at most that).
 */
export function sweepPeakBytes(graph: Graph, o: PeakOptions): number {
  const n = graph.ops.length;
  const reads = graph.inputs ?? graph.ops.map((_, i) => [i]);
  const bytes = (values: number) => o.bufferBytes(4 * o.rows * values);
  const size = [sizeOf(graph.inputShape), ...graph.ops.map((op) => sizeOf(op.outShape))];
  const first = new Array<number>(n + 1).fill(n),
    last = new Array<number>(n + 1).fill(-1);
  reads.forEach((r, i) => {
    for (const v of r) {
      first[v] = Math.min(first[v], i);
      last[v] = Math.max(last[v], i);
    }
  });
  // Time steps: the forward of op i is i, the head n, the backward of op i is 2n − i.
  const T = 2 * n + 1;
  const fwd = (i: number) => i,
    bwd = (i: number) => 2 * n - i;
  const classes = new Map<number, Float64Array>();
  const t = o.tangent ? 2 : 1;
  // `count` tensors of `values` values each, live from step lo to step hi.
  const live = (values: number, lo: number, hi: number, count: number) => liveBytes(bytes(values), lo, hi, count);
  function liveBytes(b: number, lo: number, hi: number, count = 1) {
    if (lo > hi || b === 0) return;
    let diff = classes.get(b);
    if (!diff) classes.set(b, (diff = new Float64Array(T + 1)));
    diff[lo] += count;
    diff[hi + 1] -= count;
  }
  for (let v = 0; v <= n; v++) {
    // A value (and its tangent) lives from its forward until the backward of its first reader; the logits to
    // the end. Its gradient, from its last reader's backward (the logits': the head) to its producer's.
    live(size[v], v === 0 ? 0 : fwd(v - 1), first[v] === n ? T - 1 : bwd(first[v]), t);
    live(size[v], v === n ? n : bwd(last[v]), v === 0 ? T - 1 : bwd(v - 1), t);
  }
  graph.ops.forEach((op, i) => {
    const w = workspace(op);
    for (const v of w.saved) live(v, fwd(i), bwd(i), 1);
    for (const v of w.transient) {
      live(v, fwd(i), fwd(i), t);
      live(v, bwd(i), bwd(i), t);
    }
    if (w.table) {
      liveBytes(o.bufferBytes(4 * w.table), fwd(i), fwd(i));
      liveBytes(o.bufferBytes(4 * w.table), bwd(i), bwd(i));
    }
    // GEMM scratch, by its own allocation size (the tangent stream runs its GEMMs after the value's).
    const scratch = gemms(op, o.rows);
    for (const [M, N, K] of scratch.forward) liveBytes(o.gemmScratchBytes(M, N, K), fwd(i), fwd(i));
    for (const [M, N, K] of scratch.backward) liveBytes(o.gemmScratchBytes(M, N, K), bwd(i), bwd(i));
    // A value read by several layers: its new gradient term and their sum, beside the gradient so far.
    for (const v of reads[i]) if (first[v] < i) live(size[v], bwd(i), bwd(i), 2 * t);
  });
  // The head's per-row value and the class indices it reads.
  live(1, n, T - 1, 2);
  let total = 0;
  for (const [b, diff] of classes) {
    let count = 0,
      most = 0;
    for (let k = 0; k < T; k++) most = Math.max(most, (count += diff[k]));
    total += most * b;
  }
  return total;
}
