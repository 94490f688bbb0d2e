import { fail } from '../errors.js';
import { bool, choice, int, options, positive, checkpoint, show, signal, throwIfAborted } from '../validate.js';
import { Model } from '../graph/model.js';
import { checkWork } from '../limits.js';
import type { Objective } from '../graph/objective.js';
import type { Tensor } from '../tensor.js';
import {
  gaussNewtonOperator,
  inputHessianOperator,
  paramHessianOperator,
  type CurvatureOperator,
} from './operators.js';
import { resolveSeed } from '../noise/seed.js';

/** Which Hessian a curvature call works on. */
export interface SpaceOptions {
  /** 'input' (default): one Hessian per example, ∇²ₓφ_b. 'parameter': one Hessian of the batch-mean objective. */
  space?: 'input' | 'parameter';
  /** Use the Gauss–Newton input Hessian Jᵀ (diag(p) − ppᵀ) J of the cross-entropy (input space; objective must be crossEntropy). */
  gaussNewton?: boolean;
}

// The curvature functions' names for the shared validation layer (src/validate.ts).
export function checkOptions<T extends object>(name: string, o: unknown, allowed: readonly string[]): Partial<T> {
  return options(name, o, allowed) as Partial<T>;
}

export function checkChoice<T extends string>(name: string, v: unknown, choices: readonly T[], def: T): T {
  return choice(name, v, choices, def);
}

export function checkInt(name: string, v: unknown, def: number, min: number, max = Infinity): number {
  return int(name, v, def, min, max);
}

export function checkPositive(name: string, v: unknown, def: number): number {
  return positive(name, v, def);
}

export function checkBool(name: string, v: unknown, def: boolean): boolean {
  return bool(name, v, def);
}

/** The given seed, or one drawn (and then reported) when omitted: the library's one seed helper. */
export const checkSeed = resolveSeed;

/** The operator of a call's options: input Hessian, Gauss–Newton or parameter Hessian; abortable by o.signal. */
export function operatorFor(
  fn: string,
  model: Model,
  x: Tensor,
  objective: Objective,
  o: SpaceOptions & { signal?: unknown },
): CurvatureOperator {
  if (!(model instanceof Model))
    fail('INVALID_ARGUMENT', `${fn}: model must be a Model from loadModel(), got ${show(model)}`);
  const abort = signal(`${fn}: signal`, o.signal);
  throwIfAborted(abort, fn);
  const op = baseOperator(fn, model, x, objective, o);
  return abort ? abortable(op, abort, fn) : op;
}

/** The operator with the signal looked at before every product (each is one model call). */
function abortable(op: CurvatureOperator, abort: AbortSignal, fn: string): CurvatureOperator {
  return {
    batch: op.batch,
    dim: op.dim,
    space: op.space,
    examples: op.examples,
    apply: async (V) => {
      await checkpoint(abort, fn);
      return op.apply(V);
    },
    applyBlock: async (V, k) => {
      await checkpoint(abort, fn);
      return op.applyBlock(V, k);
    },
    restrict: (rows) => abortable(op.restrict(rows), abort, fn),
  };
}

/** Refuses a curvature call of more than LIMITS.hessianProducts products before any runs. */
export function checkProducts(fn: string, products: number): void {
  checkWork(
    'hessianProducts',
    products,
    `${fn}: the Hessian-vector products (examples × products per example)`,
    'use fewer iterations, probes, samples or examples',
  );
}

/** Refuses a curvature call that would keep more than LIMITS.hostVectorValues float64 values of vectors. */
export function checkHostVectors(fn: string, values: number): void {
  checkWork(
    'hostVectorValues',
    values,
    `${fn}: the vector values kept on the host`,
    'use fewer iterations, probes or examples',
  );
}

function baseOperator(fn: string, model: Model, x: Tensor, objective: Objective, o: SpaceOptions): CurvatureOperator {
  const space = checkChoice(`${fn}: space`, o.space, ['input', 'parameter'] as const, 'input');
  const gn = checkBool(`${fn}: gaussNewton`, o.gaussNewton, false);
  if (gn) {
    if (space !== 'input')
      fail('INVALID_ARGUMENT', `${fn}: gaussNewton is available in the input space only (space: 'input')`);
    if (objective === null || typeof objective !== 'object' || objective.kind !== 'crossEntropy') {
      fail(
        'INVALID_ARGUMENT',
        `${fn}: gaussNewton: true needs the objective { kind: 'crossEntropy', labels }, got ${show(objective)}`,
      );
    }
    return gaussNewtonOperator(model, x, objective.labels);
  }
  return space === 'input' ? inputHessianOperator(model, x, objective) : paramHessianOperator(model, x, objective);
}
