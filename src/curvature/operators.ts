import { fail } from '../errors.js';
import { Model, type ParamRecord } from '../graph/model.js';
import { show } from '../validate.js';
import { checkClasses, checkObjective, type Objective } from '../graph/objective.js';
import { checkTensor, sizeOf, type Tensor } from '../tensor.js';

/**
 * A batch of symmetric linear operators, one per example, each on R^dim: vectors are laid out example
 * after example ([batch, dim], row-major). `apply` is ONE batched model call for the whole batch.
 * `applyBlock` applies k vectors per example ([k, batch, dim]: block j, then example b) — for input-space
 * operators it is one call on x repeated k times along the batch, so k HVPs per example run together.
 */
export interface CurvatureOperator {
  readonly batch: number;
  readonly dim: number;
  readonly space: 'input' | 'parameter';
  /** The example each operator row stands for (indices into the x it was built from). */
  readonly examples: readonly number[];
  apply(V: Float32Array): Promise<Float32Array>;
  applyBlock(V: Float32Array, k: number): Promise<Float32Array>;
  /** The same operator on a subset of its examples (positions in this operator's batch). */
  restrict(rows: readonly number[]): CurvatureOperator;
}

type RowProduct = (x: Tensor, v: Tensor, rows: readonly number[]) => Promise<Tensor>;

/** An input-space operator: rows of x, a per-row product (HVP or Gauss–Newton) and the examples they are. */
class InputOperator implements CurvatureOperator {
  readonly space = 'input';
  readonly batch: number;
  readonly dim: number;
  private cache: { k: number; x: Tensor; rows: number[] } | null = null;

  constructor(
    private readonly x: Tensor,
    readonly examples: readonly number[],
    private readonly product: RowProduct,
  ) {
    this.batch = x.shape[0];
    this.dim = sizeOf(x.shape.slice(1));
  }

  apply(V: Float32Array): Promise<Float32Array> {
    return this.applyBlock(V, 1);
  }

  async applyBlock(V: Float32Array, k: number): Promise<Float32Array> {
    checkBlock(V, k, this.batch, this.dim);
    const { x, rows } = this.replicated(k);
    const out = await this.product(x, { shape: [...x.shape], data: V }, rows);
    return out.data;
  }

  restrict(rows: readonly number[]): CurvatureOperator {
    const d = this.dim;
    const data = new Float32Array(rows.length * d);
    rows.forEach((r, i) => {
      if (!Number.isInteger(r) || r < 0 || r >= this.batch)
        fail('INVALID_ARGUMENT', `restrict: row ${r} is not in [0, ${this.batch - 1}]`);
      data.set(this.x.data.subarray(r * d, (r + 1) * d), i * d);
    });
    return new InputOperator(
      { shape: [rows.length, ...this.x.shape.slice(1)], data },
      rows.map((r) => this.examples[r]),
      this.product,
    );
  }

  /** x repeated k times along the batch (block j holds every example), cached for the last k. */
  private replicated(k: number): { x: Tensor; rows: number[] } {
    if (this.cache?.k === k) return this.cache;
    const n = this.x.data.length;
    const data = k === 1 ? this.x.data : new Float32Array(k * n);
    if (k > 1) for (let j = 0; j < k; j++) data.set(this.x.data, j * n);
    const rows: number[] = [];
    for (let j = 0; j < k; j++) rows.push(...this.examples);
    this.cache = { k, x: { shape: [k * this.batch, ...this.x.shape.slice(1)], data }, rows };
    return this.cache;
  }
}

function checkBlock(V: Float32Array, k: number, batch: number, dim: number): void {
  if (!Number.isInteger(k) || k < 1) fail('INVALID_ARGUMENT', `block size must be an integer >= 1, got ${k}`);
  if (!(V instanceof Float32Array) || V.length !== k * batch * dim) {
    fail(
      'INVALID_ARGUMENT',
      `operator input must be a Float32Array of ${k} × ${batch} × ${dim} = ${k * batch * dim} values, got ${V?.length}`,
    );
  }
}

/** The objective of the original examples, picked for each row. */
function rowObjective(o: Objective, rows: readonly number[]): Objective {
  return o.kind === 'crossEntropy'
    ? { kind: 'crossEntropy', labels: rows.map((r) => o.labels[r]) }
    : { kind: o.kind, target: rows.map((r) => o.target[r]) };
}

function checkX(model: Model, x: Tensor): Tensor {
  if (!(model instanceof Model)) fail('INVALID_ARGUMENT', `model must be a Model from loadModel(), got ${show(model)}`);
  return checkTensor('x', x, [-1, ...model.inputShape]);
}

const allRows = (B: number) => Array.from({ length: B }, (_, i) => i);

/** ∇²ₓφ_b(x_b) per example: each row's input Hessian-vector product (forward-over-reverse). */
export function inputHessianOperator(model: Model, x: Tensor, objective: Objective): CurvatureOperator {
  checkX(model, x);
  checkObjective(objective, x.shape[0], model.classes);
  const o = { ...objective } as Objective;
  return new InputOperator(x, allRows(x.shape[0]), (xs, v, rows) => model.inputHvp(xs, v, rowObjective(o, rows)));
}

/** Jᵀ (diag(p) − ppᵀ) J per example: the Gauss–Newton input Hessian of the cross-entropy (PSD). */
export function gaussNewtonOperator(model: Model, x: Tensor, labels: number[]): CurvatureOperator {
  checkX(model, x);
  checkClasses('labels', labels, x.shape[0], model.classes);
  const l = [...labels];
  return new InputOperator(x, allRows(x.shape[0]), (xs, v, rows) =>
    model.gaussNewtonProduct(
      xs,
      v,
      rows.map((r) => l[r]),
    ),
  );
}

/** Flattens a parameter record in `model.parameters` order. */
export function flattenParams(model: Model, rec: ParamRecord): Float32Array {
  const shapes = model.parameters;
  const out = new Float32Array(Object.values(shapes).reduce((a, s) => a + sizeOf(s), 0));
  let off = 0;
  for (const name of Object.keys(shapes)) {
    out.set(rec[name].data, off);
    off += rec[name].data.length;
  }
  return out;
}

/** The inverse of flattenParams: views of `flat` as a record. */
export function unflattenParams(model: Model, flat: Float32Array): ParamRecord {
  const rec: ParamRecord = {};
  let off = 0;
  for (const [name, shape] of Object.entries(model.parameters)) {
    const n = sizeOf(shape);
    rec[name] = { shape, data: flat.subarray(off, off + n) };
    off += n;
  }
  if (off !== flat.length) fail('INVALID_ARGUMENT', `a parameter vector must have ${off} values, got ${flat.length}`);
  return rec;
}

/**
 * The parameter Hessian of the batch-mean objective: one operator (batch 1) on all parameters, flattened
 * in `model.parameters` order. A parameter HVP seeds one direction per sweep, so `applyBlock` runs its k
 * vectors as k calls.
 */
export function paramHessianOperator(model: Model, x: Tensor, objective: Objective): CurvatureOperator {
  checkX(model, x);
  checkObjective(objective, x.shape[0], model.classes);
  const o = { ...objective } as Objective;
  const dim = Object.values(model.parameters).reduce((a, s) => a + sizeOf(s), 0);
  const op: CurvatureOperator = {
    batch: 1,
    dim,
    space: 'parameter',
    examples: [0],
    apply: (V) => op.applyBlock(V, 1),
    async applyBlock(V, k) {
      checkBlock(V, k, 1, dim);
      const out = new Float32Array(k * dim);
      for (let j = 0; j < k; j++) {
        // paramHvp copies views into fresh buffers; subarray views avoid a host copy here.
        const hv = await model.paramHvp(x, unflattenParams(model, V.subarray(j * dim, (j + 1) * dim)), o);
        out.set(flattenParams(model, hv), j * dim);
      }
      return out;
    },
    restrict(rows) {
      if (rows.length !== 1 || rows[0] !== 0)
        fail('INVALID_ARGUMENT', `restrict: a parameter-space operator has the single row 0, got [${rows.join(', ')}]`);
      return op;
    },
  };
  return op;
}
