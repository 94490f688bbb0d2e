import type { Backend, BTensor, HeadKind } from '../backend/backend.js';
import { isJoin, paramName, type GraphOp, type ParamGrad, type ParamValue, type Saved } from '../ops/op.js';
import type { Graph } from './spec.js';

// One sweep through the graph: forward (with tangents when seeded), a loss head, then backward (backward2
// when tangents flow). Every derivative the library offers is one sweep:
//   gradient       head + backward
//   input HVP      ẋ = v, head with ∇²φ·ż, backward2 → tangent of the input gradient
//   parameter HVP  θ̇ = v, the same → tangents of the parameter gradients
//   Gauss–Newton   ẋ = v, 'gaussNewton' head seeds A·ż, plain backward → Jᵀ A J v
// All of it is recorded into the backend as one stream of dispatches over the whole batch.

export interface SweepRequest {
  x: BTensor;
  xdot?: BTensor | null;
  params: ReadonlyMap<string, BTensor>;
  paramTangents?: ReadonlyMap<string, BTensor> | null;
  head?: { kind: HeadKind; classes: BTensor; scale: number } | null;
  /** A cotangent on the logits [B, classes] instead of a head: the backward gives its vector-Jacobian product. */
  cotangent?: BTensor | null;
  /**
   * Seeds computed from the logits and their tangent, recorded after the forward pass (SSR, src/train/ssr.ts).
   * With a `gdot` the backward is a backward2 along ẋ: the parameter gradients' tangents are then the VJP of
   * the map θ ↦ (z, ż) with cotangents (gdot on z, g on ż). The sweep releases what the callback returns.
   */
  logitSeed?: ((z: BTensor, zdot: BTensor | null) => { g: BTensor; gdot: BTensor | null }) | null;
  inputGrad?: boolean;
  /** true: parameter gradients (and their tangents in a backward2); 'tangents': their tangents only (grad null). */
  paramGrads?: boolean | 'tangents';
  /** Apply activations in the preceding dense/conv GEMM's store (default true; false records them as their own pass). */
  fuseActivations?: boolean;
  /** An i32 [1] flag: every tensor the sweep makes is checked for Infinity/NaN on the device (see `stageName`). */
  finite?: BTensor | null;
  /**
   * Keep this sweep's forward values (every layer's output and max pooling's winners) in `result.primal`
   * for later sweeps at the same x and weights; the caller releases them. Needs `canReusePrimal(graph)`.
   */
  keepPrimal?: boolean;
  /**
   * The forward values of an earlier sweep at the same x and weights (`keepPrimal`): this sweep computes
   * only the tangents (op.tangent) and reads the kept values where its forward would have made them.
   */
  primal?: PrimalCache | null;
}

/** Forward values kept by a sweep (`keepPrimal`) for later sweeps at the same point. */
export interface PrimalCache {
  /** values[v] is graph value v's forward value (values[0] the input); argmax[i] op i's saved winners. */
  readonly values: readonly BTensor[];
  readonly argmax: readonly (BTensor | undefined)[];
  /** Whether the kept forward fused activations into GEMM stores (the reusing sweep must do the same). */
  readonly fused: boolean;
  release(): void;
}

/** Whether every op has a tangent-only pass (op.tangent), so a sweep may reuse a kept forward. */
export function canReusePrimal(graph: Graph): boolean {
  return graph.ops.every((op) => !isJoin(op) && typeof op.tangent === 'function');
}

/**
 * Stage numbers written into the finite flag, in the order tensors are made, so the flag names where a
 * non-finite value first appeared: 1 the call's inputs, 2 + i the forward of layer i, 2 + n the loss head,
 * 3 + n + (n − 1 − i) the backward of layer i, STAGE_REDUCE the statistics folded over samples.
 */
export const STAGE_INPUT = 1;
export const STAGE_REDUCE = 1 << 30;

export function stageName(graph: Graph, stage: number): string {
  const n = graph.ops.length;
  const layer = (i: number) => `layers[${i}] (${graph.ops[i].type}${graph.ops[i].name ? ` ${graph.ops[i].name}` : ''})`;
  if (stage === STAGE_INPUT) return 'the inputs of the call (x, or the noisy samples made from it)';
  if (stage === STAGE_REDUCE) return 'the statistics folded over the samples';
  if (stage >= 2 && stage < 2 + n) return `the forward pass of ${layer(stage - 2)}`;
  if (stage === 2 + n) return 'the loss head on the logits';
  if (stage > 2 + n && stage < 3 + 2 * n) return `the backward pass of ${layer(n - 1 - (stage - 3 - n))}`;
  return `stage ${stage}`;
}

export interface SweepResult {
  /** The kept forward values (`keepPrimal`), owned by the caller. */
  primal: PrimalCache | null;
  logits: BTensor;
  logitsDot: BTensor | null;
  value: BTensor | null;
  inputGrad: BTensor | null;
  inputGradDot: BTensor | null;
  paramGrads: Map<string, ParamGrad>;
  /** Releases every tensor the sweep made, except those listed. */
  release(keep?: readonly (BTensor | null)[]): void;
}

export function sweep(be: Backend, graph: Graph, req: SweepRequest): SweepResult {
  const batch = req.x.shape[0];
  const n = graph.ops.length;
  if ((req.keepPrimal || req.primal) && !canReusePrimal(graph))
    throw new Error('sweep: keepPrimal / primal need an op.tangent on every op (canReusePrimal)');
  const reads = graph.inputs ?? graph.ops.map((_, i) => [i]);
  const willBackward = !!(req.head || req.cotangent || req.logitSeed) && !!(req.inputGrad || req.paramGrads);

  // Liveness. Every tensor the sweep makes is in `made`; `refs` counts the value slots (activations,
  // gradients, saved winners) that hold it, as ops may hand a tensor through (flatten, add's backward).
  // A tensor is released as soon as no slot holds it; whatever is left (results) goes with `release`.
  const made = new Set<BTensor>();
  const refs = new Map<BTensor, number>();
  const track = <T extends BTensor | null | undefined>(t: T): T => {
    if (t && t !== req.x && t !== req.xdot && t !== req.cotangent) made.add(t);
    return t;
  };
  const hold = (t: BTensor | null | undefined) => {
    if (t) refs.set(t, (refs.get(t) ?? 0) + 1);
  };
  const drop = (t: BTensor | null | undefined) => {
    if (!t) return;
    const left = (refs.get(t) ?? 0) - 1;
    if (left > 0) {
      refs.set(t, left);
      return;
    }
    refs.delete(t);
    if (made.delete(t)) be.release(t);
  };
  // The last forward consumer of each value (when no backward follows) and the first one (whose backward
  // is the last to read the value as a saved input).
  const lastReader = new Array<number>(n + 1).fill(-1),
    firstReader = new Array<number>(n + 1).fill(n);
  reads.forEach((r, i) => {
    for (const v of r) {
      lastReader[v] = Math.max(lastReader[v], i);
      firstReader[v] = Math.min(firstReader[v], i);
    }
  });

  const paramsOf = (op: GraphOp): Record<string, ParamValue> => {
    const out: Record<string, ParamValue> = {};
    for (const p of op.params) {
      const full = paramName(op, p.key);
      // Buffers (running statistics) are constants: uploaded with the weights, never given a tangent.
      out[p.key] = { value: req.params.get(full)!, tangent: p.buffer ? null : (req.paramTangents?.get(full) ?? null) };
    }
    return out;
  };
  const check = (stage: number, ...ts: (BTensor | null | undefined)[]) => {
    if (req.finite) for (const t of ts) if (t) be.checkFinite(t, req.finite, stage);
  };
  check(STAGE_INPUT, req.x, req.xdot);

  // Forward (+ tangent), in topological order. A dense or conv op whose output only an activation reads
  // applies it in its GEMMs' store (the activation's own pass would read the layer's output back from
  // memory); the activation's backward still gets its saved (z, ż). With a DAG, a pre-activation value that
  // another layer also reads (a residual branch) is never fused: that reader needs it as its own pass made it.
  const values: { z: BTensor; zdot: BTensor | null }[] = [{ z: req.x, zdot: req.xdot ?? null }];
  const dropValue = (v: number) => {
    drop(values[v].z);
    drop(values[v].zdot);
  };
  const readerCount = new Array<number>(n + 1).fill(0);
  for (const r of reads) for (const v of new Set(r)) readerCount[v]++;
  const fuse = req.fuseActivations ?? true;
  const saved: (Saved | null)[] = [];
  // `kept`: y belongs to req.primal (made by an earlier sweep): neither tracked nor released here.
  const push = (i: number, y: BTensor, ydot: BTensor | null, kept = false) => {
    if (!kept) track(y);
    track(ydot);
    hold(y);
    hold(ydot);
    values.push({ z: y, zdot: ydot });
    if (!willBackward && !req.keepPrimal) for (const v of new Set(reads[i])) if (lastReader[v] === i) dropValue(v);
  };
  for (let i = 0; i < n; i++) {
    const op = graph.ops[i];
    const ins = reads[i].map((v) => values[v]);
    if (isJoin(op)) {
      const { y, ydot } = op.forwardJoin(
        be,
        batch,
        ins.map((v) => v.z),
        ins.map((v) => v.zdot),
      );
      saved.push(null);
      check(2 + i, y, ydot);
      push(i, y, ydot);
      continue;
    }
    const next = graph.ops[i + 1];
    const fusible =
      fuse &&
      op.fusesActivation &&
      !!next &&
      !isJoin(next) &&
      readerCount[i + 1] === 1 &&
      reads[i + 1]?.length === 1 &&
      reads[i + 1][0] === i + 1;
    const then = fusible ? next.epilogue : undefined;
    if (req.primal) {
      // Tangents only, along the kept forward: the same kernels as `forward`'s tangent half, so the same bits.
      const P = req.primal;
      if (P.fused !== fuse) throw new Error('sweep: a kept forward is reused with another fuseActivations');
      const s: Saved = { x: ins[0].z, xdot: ins[0].zdot, argmax: P.argmax[i] };
      const t = op.tangent!(
        be,
        batch,
        ins[0].z,
        ins[0].zdot,
        paramsOf(op),
        s,
        then,
        then ? P.values[i + 1] : undefined,
      );
      saved.push(s);
      if (then) {
        check(2 + i, t.predot);
        push(i, P.values[i + 1], t.predot ?? null, true);
        saved.push({ x: P.values[i + 1], xdot: t.predot ?? null });
        i++;
      }
      check(2 + i, t.ydot);
      push(i, P.values[i + 1], t.ydot, true);
      continue;
    }
    const r = op.forward(be, batch, ins[0].z, ins[0].zdot, paramsOf(op), then);
    track(r.saved.argmax);
    hold(r.saved.argmax);
    saved.push(r.saved);
    if (then) {
      if (!r.pre) throw new Error(`${op.type} ${op.name}: a fused forward must return the layer's own output`);
      check(2 + i, r.pre.z, r.pre.zdot);
      push(i, r.pre.z, r.pre.zdot);
      saved.push({ x: r.pre.z, xdot: r.pre.zdot });
      i++; // the activation ran in the epilogue: its stage checks the activated outputs below
    }
    check(2 + i, r.y, r.ydot);
    push(i, r.y, r.ydot);
  }
  const z = values[n].z,
    zdot = values[n].zdot;
  let primal: PrimalCache | null = null;
  if (req.keepPrimal) {
    // Hand the forward values over to the caller: out of `made`, so no drop or release here frees them.
    const vs = values.map((v) => v.z),
      am = saved.map((s) => s?.argmax);
    const owned = new Set<BTensor>();
    for (const t of [...vs.slice(1), ...am]) if (t && t !== req.x && made.delete(t)) owned.add(t);
    primal = { values: vs, argmax: am, fused: fuse, release: () => be.release(...owned) };
  }
  const result: SweepResult = {
    primal,
    logits: z,
    logitsDot: zdot,
    value: null,
    inputGrad: null,
    inputGradDot: null,
    paramGrads: new Map(),
    release(keep = []) {
      for (const t of made) if (!keep.includes(t)) be.release(t);
      made.clear();
    },
  };
  if (!req.head && !req.cotangent && !req.logitSeed) return result;

  // Head (or the caller's cotangent), then backward (+ backward2), last layer first.
  let g: BTensor,
    gdot: BTensor | null = null;
  if (req.head) {
    const h = be.head(req.head.kind, z, req.head.classes, zdot, req.head.scale);
    check(2 + n, h.value, h.g, h.gdot);
    track(h.value);
    track(h.g);
    track(h.gdot);
    result.value = h.value;
    g = h.g;
    gdot = h.gdot;
  } else if (req.logitSeed) {
    const sd = req.logitSeed(z, zdot);
    check(2 + n, sd.g, sd.gdot);
    track(sd.g);
    track(sd.gdot);
    g = sd.g;
    gdot = sd.gdot;
  } else {
    g = req.cotangent!;
  }
  if (!willBackward) return result; // values only
  // A Gauss–Newton product or a plain vector-Jacobian product is linear in the seed: no second-order terms.
  const secondOrder = (!!req.head && req.head.kind !== 'gaussNewton') || !!gdot;
  // The gradient (and its tangent) of each value, summed over the layers that read it (fan-out).
  const grads: ({ g: BTensor; gdot: BTensor | null } | null)[] = new Array(n + 1).fill(null);
  grads[n] = { g, gdot: secondOrder ? gdot : null };
  hold(grads[n]!.g);
  hold(grads[n]!.gdot);
  const accumulate = (v: number, gx: BTensor | null, gxdot: BTensor | null, label: string) => {
    if (!gx) return;
    track(gx);
    track(gxdot);
    hold(gx);
    hold(gxdot);
    const cur = grads[v];
    if (!cur) {
      grads[v] = { g: gx, gdot: gxdot };
      return;
    }
    const sum = track(be.add(cur.g, gx, `${label} (summed over readers)`));
    const sumDot =
      cur.gdot && gxdot
        ? track(be.add(cur.gdot, gxdot, `${label} tangent (summed over readers)`))
        : (cur.gdot ?? gxdot);
    hold(sum);
    hold(sumDot);
    drop(cur.g);
    drop(cur.gdot);
    drop(gx);
    drop(gxdot);
    grads[v] = { g: sum, gdot: sumDot };
  };
  for (let i = n - 1; i >= 0; i--) {
    const op = graph.ops[i];
    const out = grads[i + 1]!;
    const stage = 3 + n + (n - 1 - i);
    if (isJoin(op)) {
      const r = op.backwardJoin(be, batch, out.g, out.gdot);
      // Tracked even where no gradient is wanted (the input's), so that whatever the op made is released.
      for (const t of [...r.gxs, ...r.gxdots]) track(t);
      check(stage, ...r.gxs, ...r.gxdots);
      reads[i].forEach((v, k) => {
        if (v > 0 || req.inputGrad) accumulate(v, r.gxs[k], r.gxdots[k], `gradient of ${valueName(graph, v)}`);
      });
    } else {
      const s = secondOrder ? saved[i]! : { ...saved[i]!, xdot: null };
      const p = paramsOf(op);
      if (!secondOrder) for (const k in p) p[k].tangent = null;
      const v = reads[i][0];
      const want = {
        input: v > 0 || !!req.inputGrad,
        params: !!req.paramGrads,
        paramTangentsOnly: req.paramGrads === 'tangents',
      };
      const r = op.backward(be, batch, s, out.g, out.gdot, p, want);
      check(stage, r.gx, r.gxdot, ...Object.values(r.params).flatMap((pg) => [pg.grad, pg.gradDot]));
      for (const [key, pg] of Object.entries(r.params)) {
        // Ops return gradients only for parameters, never for buffers.
        track(pg.grad);
        track(pg.gradDot);
        result.paramGrads.set(paramName(op, key), pg);
      }
      if (want.input) accumulate(v, r.gx, r.gxdot, `gradient of ${valueName(graph, v)}`);
      drop(saved[i]!.argmax);
    }
    // This op's output gradient is consumed; its inputs are needed by no earlier backward once this is
    // their first reader.
    drop(out.g);
    drop(out.gdot);
    grads[i + 1] = null;
    for (const v of new Set(reads[i])) if (firstReader[v] === i) dropValue(v);
  }
  if (req.inputGrad && grads[0]) {
    result.inputGrad = grads[0].g;
    result.inputGradDot = grads[0].gdot;
  }
  // Inside the sweep a null tangent stands for zero; callers get real zeros (e.g. the HVP of a linear model).
  if (secondOrder && (req.xdot || req.paramTangents)) {
    // Made on the device: an upload would need a fresh buffer per call (uploads cannot take buffers released
    // in the same submission), so a sampling call would grow the pool with its number of chunks.
    const zeros = (t: BTensor) => track(be.zeros(t.shape, `${t.label} (zero tangent)`));
    if (result.inputGrad && !result.inputGradDot) result.inputGradDot = zeros(result.inputGrad);
    for (const [name, pg] of result.paramGrads) if (!pg.gradDot) pg.gradDot = zeros(pg.grad ?? req.params.get(name)!);
  }
  return result;
}

/** 'the input' or 'layers[i] (type)': the value a gradient belongs to, for buffer labels. */
function valueName(graph: Graph, v: number): string {
  return v === 0 ? 'the input' : `layers[${v - 1}] (${graph.ops[v - 1].type})`;
}
