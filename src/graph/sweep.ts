import type { Backend, BTensor, HeadKind } from '../backend/backend.js';
import type { ParamGrad, ParamValue, Saved } from '../ops/op.js';
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
  paramGrads?: boolean;
  /** Apply activations in the preceding dense/conv GEMM's store (default true; false records them as their own pass). */
  fuseActivations?: boolean;
  /** An i32 [1] flag: every tensor the sweep makes is checked for Infinity/NaN on the device (see `stageName`). */
  finite?: BTensor | null;
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
  const made = new Set<BTensor>();
  const track = <T extends BTensor | null | undefined>(t: T): T => {
    if (t && t !== req.x && t !== req.xdot) made.add(t);
    return t;
  };
  const paramsOf = (op: Graph['ops'][number]): Record<string, ParamValue> => {
    const out: Record<string, ParamValue> = {};
    for (const p of op.params) {
      const full = `${op.name}.${p.key}`;
      out[p.key] = { value: req.params.get(full)!, tangent: req.paramTangents?.get(full) ?? null };
    }
    return out;
  };

  const n = graph.ops.length;
  const check = (stage: number, ...ts: (BTensor | null | undefined)[]) => {
    if (req.finite) for (const t of ts) if (t) be.checkFinite(t, req.finite, stage);
  };
  check(STAGE_INPUT, req.x, req.xdot);

  // Forward (+ tangent). A dense or conv op followed by an activation applies it in its GEMMs' store (the
  // activation's own pass would read the layer's output back from memory); the activation's backward still
  // gets its saved (z, ż).
  const saved: Saved[] = [];
  let z = req.x,
    zdot = req.xdot ?? null;
  const fuse = req.fuseActivations ?? true;
  for (let i = 0; i < n; i++) {
    const op = graph.ops[i],
      next = graph.ops[i + 1];
    const then = fuse && op.fusesActivation ? next?.epilogue : undefined;
    const r = op.forward(be, batch, z, zdot, paramsOf(op), then);
    track(r.y);
    track(r.ydot);
    track(r.saved.argmax);
    saved.push(r.saved);
    if (then) {
      if (!r.pre) throw new Error(`${op.type} ${op.name}: a fused forward must return the layer's own output`);
      check(2 + i, r.pre.z, r.pre.zdot);
      track(r.pre.z);
      track(r.pre.zdot);
      saved.push({ x: r.pre.z, xdot: r.pre.zdot });
      i++; // the activation ran in the epilogue: its stage checks the activated outputs below
    }
    check(2 + i, r.y, r.ydot);
    z = r.y;
    zdot = r.ydot;
  }
  const result: SweepResult = {
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
  if (!req.inputGrad && !req.paramGrads) return result; // values only
  // A Gauss–Newton product or a plain vector-Jacobian product is linear in the seed: no second-order terms.
  const secondOrder = (!!req.head && req.head.kind !== 'gaussNewton') || !!gdot;
  for (let i = graph.ops.length - 1; i >= 0; i--) {
    const op = graph.ops[i];
    const s = secondOrder ? saved[i] : { ...saved[i], xdot: null };
    const p = paramsOf(op);
    if (!secondOrder) for (const k in p) p[k].tangent = null;
    const want = { input: i > 0 || !!req.inputGrad, params: !!req.paramGrads };
    const r = op.backward(be, batch, s, g, secondOrder ? gdot : null, p, want);
    check(3 + n + (n - 1 - i), r.gx, r.gxdot, ...Object.values(r.params).flatMap((pg) => [pg.grad, pg.gradDot]));
    track(r.gx);
    track(r.gxdot);
    for (const [key, pg] of Object.entries(r.params)) {
      track(pg.grad);
      track(pg.gradDot);
      result.paramGrads.set(`${op.name}.${key}`, pg);
    }
    if (i > 0) {
      g = r.gx!;
      gdot = r.gxdot;
    } else {
      result.inputGrad = r.gx;
      result.inputGradDot = r.gxdot;
    }
  }
  // Inside the sweep a null tangent stands for zero; callers get real zeros (e.g. the HVP of a linear model).
  if (secondOrder && (req.xdot || req.paramTangents)) {
    // Made on the device: an upload would need a fresh buffer per call (uploads cannot take buffers released
    // in the same submission), so a sampling call would grow the pool with its number of chunks.
    const zeros = (t: BTensor) => track(be.zeros(t.shape, `${t.label} (zero tangent)`));
    if (result.inputGrad && !result.inputGradDot) result.inputGradDot = zeros(result.inputGrad);
    for (const pg of result.paramGrads.values()) if (!pg.gradDot) pg.gradDot = zeros(pg.grad);
  }
  return result;
}
