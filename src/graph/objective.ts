import type { HeadKind } from '../backend/backend.js';
import { fail } from '../errors.js';
import { options, show } from '../validate.js';

/** What a gradient or HVP differentiates, per example. */
export type Objective =
  | { kind: 'logit'; target: number[] } // the target class's logit
  | { kind: 'probability'; target: number[] } // its softmax probability
  | { kind: 'crossEntropy'; labels: number[] }; // softmax cross-entropy with the labels

export function checkObjective(o: unknown, batch: number, classes: number): { kind: HeadKind; classes: number[] } {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) {
    fail(
      'INVALID_ARGUMENT',
      `objective must be { kind: 'logit' | 'probability', target: number[] } or { kind: 'crossEntropy', labels: number[] }, got ${show(o)}`,
    );
  }
  const obj = o as Record<string, unknown>;
  const field = obj.kind === 'crossEntropy' ? 'labels' : 'target';
  if (obj.kind !== 'logit' && obj.kind !== 'probability' && obj.kind !== 'crossEntropy') {
    fail('INVALID_ARGUMENT', `objective.kind must be 'logit', 'probability' or 'crossEntropy', got ${show(obj.kind)}`);
  }
  options('objective', o, ['kind', field]);
  return { kind: obj.kind, classes: checkClasses(`objective.${field}`, obj[field], batch, classes) };
}

export function checkClasses(name: string, v: unknown, batch: number, classes: number): number[] {
  if (!Array.isArray(v) || v.length !== batch) {
    fail('INVALID_ARGUMENT', `${name} must be an array of ${batch} class indices (one per example), got ${show(v)}`);
  }
  v.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || c >= classes) {
      fail('INVALID_ARGUMENT', `${name}[${i}] = ${show(c)} is not a class index in [0, ${classes - 1}]`);
    }
  });
  return v;
}
