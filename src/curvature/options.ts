import { fail } from '../errors.js';
import { bool, choice, int, options, positive, show } from '../validate.js';
import type { Model } from '../graph/model.js';
import type { Objective } from '../graph/objective.js';
import type { Tensor } from '../tensor.js';
import { gaussNewtonOperator, inputHessianOperator, paramHessianOperator, type CurvatureOperator } from './operators.js';
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

/** The operator of a call's options: input Hessian, Gauss–Newton or parameter Hessian. */
export function operatorFor(fn: string, model: Model, x: Tensor, objective: Objective, o: SpaceOptions): CurvatureOperator {
  const space = checkChoice(`${fn}: space`, o.space, ['input', 'parameter'] as const, 'input');
  const gn = checkBool(`${fn}: gaussNewton`, o.gaussNewton, false);
  if (gn) {
    if (space !== 'input') fail('INVALID_ARGUMENT', `${fn}: gaussNewton is available in the input space only (space: 'input')`);
    if (objective === null || typeof objective !== 'object' || objective.kind !== 'crossEntropy') {
      fail('INVALID_ARGUMENT', `${fn}: gaussNewton: true needs the objective { kind: 'crossEntropy', labels }, got ${show(objective)}`);
    }
    return gaussNewtonOperator(model, x, objective.labels);
  }
  return space === 'input' ? inputHessianOperator(model, x, objective) : paramHessianOperator(model, x, objective);
}
