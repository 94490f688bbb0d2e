import type { ActivationKind, Backend, BTensor, EpilogueActivation } from '../backend/backend.js';
import { fail } from '../errors.js';
import { show } from '../validate.js';

// An op holds its four passes (DESIGN.md):
//   forward   y = f(x)                          forward(..., xdot = null, tangents null)
//   tangent   ẏ = J ẋ (+ ∂f/∂θ θ̇), alongside y  forward(..., xdot or parameter tangents given)
//   backward  x̄ = Jᵀ ȳ and θ̄                    backward(..., gydot = null, no tangents saved)
//   backward2 the tangent of backward            backward(..., with gydot and/or saved tangents)
// Forward and tangent share one call (and, for pointwise ops, one dispatch), as do backward and backward2.
// A null tangent means zero, so an input HVP never touches weight tangents and a parameter HVP never
// builds an input tangent. Shapes exclude the batch, which leads every tensor.

export interface ParamSpec {
  key: string; // 'weight' | 'bias' | 'running_mean' …
  shape: number[]; // PyTorch layout
  /**
   * A buffer (batch norm's running statistics): loaded with the weights under its PyTorch name but a
   * constant of the model, not a parameter: no gradient, no tangent, not in parameter records.
   */
  buffer?: boolean;
  /**
   * The parameter's full name when it is not `${op.name}.${key}`: a constant operand of an elementwise
   * layer is named by itself (the ONNX initializer's name, which need not contain a dot).
   */
  fullName?: string;
}

/** The full name (`conv1.weight`) under which a parameter of `op` is loaded, saved and reported. */
export function paramName(op: { readonly name: string | null; readonly params: readonly ParamSpec[] }, key: string) {
  return op.params.find((p) => p.key === key)?.fullName ?? `${op.name}.${key}`;
}

export interface ParamValue {
  value: BTensor;
  tangent: BTensor | null;
}

export interface Saved {
  x: BTensor;
  xdot: BTensor | null;
  argmax?: BTensor;
}

export interface ParamGrad {
  /** The gradient; null when only the tangents were wanted (`BackwardWants.paramTangentsOnly`). */
  grad: BTensor | null;
  gradDot: BTensor | null;
}

export interface BackwardResult {
  gx: BTensor | null;
  gxdot: BTensor | null;
  params: Record<string, ParamGrad>;
}

export interface BackwardWants {
  input: boolean;
  params: boolean;
  /**
   * With `params`, only the parameter gradients' tangents (backward2): SSR's gradient is the tangent
   * stream's, and the primal weight gradient (a GEMM per layer as costly as the forward) would be thrown away.
   */
  paramTangentsOnly?: boolean;
}

export interface Op {
  readonly type: string;
  /** Parameter prefix (PyTorch module name) for ops with weights. */
  readonly name: string | null;
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  readonly params: readonly ParamSpec[];
  /** An activation op: what a preceding dense or conv op may apply in its store instead (sweep.ts fuses them). */
  readonly epilogue?: FusedActivation;
  /** Dense and conv: `forward` takes the following activation (`then`) and applies it in the GEMM's store. */
  readonly fusesActivation?: boolean;
  /**
   * With `then` (fusesActivation ops only), y and ẏ are the activation's outputs and `pre` holds the layer's
   * own (z, ż), which the activation's backward needs.
   */
  forward(
    be: Backend,
    batch: number,
    x: BTensor,
    xdot: BTensor | null,
    p: Record<string, ParamValue>,
    then?: FusedActivation,
  ): { y: BTensor; ydot: BTensor | null; saved: Saved; pre?: { z: BTensor; zdot: BTensor | null } };
  /**
   * The tangent alone, at a point whose forward values an earlier sweep kept (sweep.ts `PrimalCache`): ẏ, and
   * with `then` the layer's own ż as `predot` (`pre` is the layer's own kept output z, which σ′ reads).
   * `saved` is the kept forward's (max pooling's winners). Optional: a sweep reuses a forward only when
   * every op of the graph has it.
   */
  tangent?(
    be: Backend,
    batch: number,
    x: BTensor,
    xdot: BTensor | null,
    p: Record<string, ParamValue>,
    saved: Saved,
    then?: FusedActivation,
    pre?: BTensor,
  ): { ydot: BTensor | null; predot?: BTensor | null };
  backward(
    be: Backend,
    batch: number,
    saved: Saved,
    gy: BTensor,
    gydot: BTensor | null,
    p: Record<string, ParamValue>,
    want: BackwardWants,
  ): BackwardResult;
}

/**
 * An op of several inputs (all of the same batch): `add`. It has no parameters and is linear, so its
 * tangent is the same map on the tangents and backward2 is backward on the gradient's tangent. A null
 * tangent is zero, as for `Op`.
 */
export interface JoinOp {
  readonly type: string;
  readonly name: null;
  readonly join: true;
  readonly inShapes: readonly (readonly number[])[];
  /** The first input's shape (what code that inspects single-input ops reads). */
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  readonly params: readonly ParamSpec[];
  forwardJoin(
    be: Backend,
    batch: number,
    xs: readonly BTensor[],
    xdots: readonly (BTensor | null)[],
  ): { y: BTensor; ydot: BTensor | null };
  /** x̄ᵢ (and its tangent) for every input i. The results may be `gy` itself; callers must not release them twice. */
  backwardJoin(
    be: Backend,
    batch: number,
    gy: BTensor,
    gydot: BTensor | null,
  ): { gxs: BTensor[]; gxdots: (BTensor | null)[] };
}

export type GraphOp = Op | JoinOp;
export const isJoin = (op: GraphOp): op is JoinOp => (op as JoinOp).join === true;

/** A spec layer: a JSON object with a `type`. Each op's factory validates its own fields. */
export type LayerSpec = Record<string, unknown> & { type: string };

/** Largest size a spec may give (an int32, as the kernels index with 32-bit integers). */
export const MAX_SPEC_INT = 2 ** 31 - 1;

export class LayerFields {
  constructor(
    private readonly layer: LayerSpec,
    readonly where: string,
  ) {}

  /** Rejects fields the op does not know, so a typo (`strides`) is an error, not a silent default. */
  only(...allowed: string[]): void {
    for (const k of Object.keys(this.layer)) {
      if (k !== 'type' && !allowed.includes(k)) {
        fail(
          'INVALID_SPEC',
          `${this.where}: unknown field '${k}' for a ${this.layer.type} layer; allowed: ${allowed.join(', ') || '(none)'}`,
        );
      }
    }
  }

  int(key: string, def: number | undefined, min: number): number {
    const v = this.layer[key] ?? def;
    if (v === undefined) fail('INVALID_SPEC', `${this.where}: missing field '${key}' (an integer >= ${min})`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > MAX_SPEC_INT) {
      fail(
        'INVALID_SPEC',
        `${this.where}: field '${key}' must be an integer in [${min}, ${MAX_SPEC_INT}], got ${show(v)}`,
      );
    }
    return v;
  }

  /** An integer or an [h, w] pair of integers. */
  pair(key: string, def: number | undefined, min: number): [number, number] {
    const v = this.layer[key];
    if (Array.isArray(v)) {
      if (v.length !== 2 || !v.every((e) => Number.isInteger(e) && e >= min && e <= MAX_SPEC_INT)) {
        fail(
          'INVALID_SPEC',
          `${this.where}: field '${key}' must be an integer >= ${min} or a pair [h, w] of them, got ${show(v)}`,
        );
      }
      return [v[0], v[1]];
    }
    const n = this.int(key, def, min);
    return [n, n];
  }

  positive(key: string, def: number): number {
    const v = this.layer[key] ?? def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      fail('INVALID_SPEC', `${this.where}: field '${key}' must be a finite number > 0, got ${show(v)}`);
    }
    return v;
  }

  bool(key: string, def: boolean): boolean {
    const v = this.layer[key] ?? def;
    if (typeof v !== 'boolean')
      fail('INVALID_SPEC', `${this.where}: field '${key}' must be true or false, got ${show(v)}`);
    return v;
  }

  name(): string {
    const v = this.layer.name;
    if (typeof v !== 'string' || !/^[A-Za-z_][\w.]*$/.test(v)) {
      fail(
        'INVALID_SPEC',
        `${this.where}: a ${this.layer.type} layer needs a 'name' (its PyTorch module name, e.g. "fc1"), got ${show(v)}`,
      );
    }
    return v;
  }
}

/** Output length of a sliding window; an error when the window does not fit. */
export function windowOut(
  where: string,
  size: number,
  kernel: number,
  stride: number,
  pad: number,
  axis: string,
): number {
  const span = size + 2 * pad - kernel;
  if (span < 0) {
    fail('INVALID_SPEC', `${where}: kernel ${kernel} does not fit the input ${axis} ${size} (padding ${pad})`);
  }
  return Math.floor(span / stride) + 1;
}

/** Accumulates terms into one tensor: the first term allocates it, the rest add into it. */
/** An activation kind and its β: what a GEMM epilogue applies (backend EpilogueActivation without z). */
export interface FusedActivation {
  kind: ActivationKind;
  beta: number;
}

/**
 * A layer's value and tangent with the following activation fused into the GEMMs: the value GEMM applies σ,
 * and of the tangent's accumulating GEMM terms the last applies σ′(z) (the earlier ones only accumulate).
 * `value(act)` records the value GEMM; each term `(into, act)` one tangent GEMM, act null except on the last.
 */
export function fusedForward(
  then: FusedActivation,
  value: (act: EpilogueActivation) => { z: BTensor; a: BTensor },
  terms: Array<
    ((into: BTensor | null, act: EpilogueActivation | null) => { z: BTensor; a: BTensor | null }) | null | false
  >,
) {
  const v = value({ ...then, z: null });
  const t = fusedTangent(then, v.z, terms);
  return { y: v.a, ydot: t.ydot, pre: { z: v.z, zdot: t.zdot } };
}

/** The tangent half of `fusedForward`, given the layer's output z (σ′(z) applied in the last term's store). */
export function fusedTangent(
  then: FusedActivation,
  z: BTensor,
  terms: Array<
    ((into: BTensor | null, act: EpilogueActivation | null) => { z: BTensor; a: BTensor | null }) | null | false
  >,
): { ydot: BTensor | null; zdot: BTensor | null } {
  type Term = (into: BTensor | null, act: EpilogueActivation | null) => { z: BTensor; a: BTensor | null };
  const live = terms.filter((t): t is Term => !!t);
  let acc: { z: BTensor; a: BTensor | null } | null = null;
  live.forEach((t, i) => {
    acc = t(acc?.z ?? null, i === live.length - 1 ? { ...then, z } : null);
  });
  const tangent = acc as { z: BTensor; a: BTensor | null } | null;
  return { ydot: tangent?.a ?? null, zdot: tangent?.z ?? null };
}

export function sumTerms(terms: Array<((into: BTensor | null) => BTensor) | null | false>): BTensor | null {
  let acc: BTensor | null = null;
  for (const t of terms) if (t) acc = t(acc);
  return acc;
}
