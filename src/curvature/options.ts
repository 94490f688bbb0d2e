import { fail } from '../errors.js';
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

export function checkOptions<T extends object>(name: string, o: unknown, allowed: readonly string[]): Partial<T> {
  if (o === undefined) return {};
  if (o === null || typeof o !== 'object' || Array.isArray(o)) fail('INVALID_ARGUMENT', `${name} options must be an object, got ${JSON.stringify(o)}`);
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) fail('INVALID_ARGUMENT', `${name}: unknown option '${k}'; allowed: ${allowed.join(', ')}`);
  }
  return o as Partial<T>;
}

export function checkChoice<T extends string>(name: string, v: unknown, choices: readonly T[], def: T): T {
  if (v === undefined) return def;
  if (!choices.includes(v as T)) fail('INVALID_ARGUMENT', `${name} must be ${choices.map((c) => `'${c}'`).join(' or ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

export function checkInt(name: string, v: unknown, def: number, min: number, max = Infinity): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail('INVALID_ARGUMENT', `${name} must be an integer in [${min}, ${max === Infinity ? '∞' : max}], got ${JSON.stringify(v)}`);
  }
  return v;
}

export function checkPositive(name: string, v: unknown, def: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail('INVALID_ARGUMENT', `${name} must be a finite number > 0, got ${JSON.stringify(v)}`);
  return v;
}

export function checkBool(name: string, v: unknown, def: boolean): boolean {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') fail('INVALID_ARGUMENT', `${name} must be true or false, got ${JSON.stringify(v)}`);
  return v;
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
      fail('INVALID_ARGUMENT', `${fn}: gaussNewton: true needs the objective { kind: 'crossEntropy', labels }, got ${JSON.stringify(objective)?.slice(0, 80)}`);
    }
    return gaussNewtonOperator(model, x, objective.labels);
  }
  return space === 'input' ? inputHessianOperator(model, x, objective) : paramHessianOperator(model, x, objective);
}
