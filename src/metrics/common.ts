// Shared validation for the metrics: a batch of maps is a Tensor [B, ...] whose example b is the
// contiguous run data[b·n, (b+1)·n), n = the product of the trailing dimensions.
import { fail } from '../errors.js';
import { checkTensor, shapeStr, sizeOf, type Tensor } from '../tensor.js';

export interface Batch {
  /** Examples (shape[0]). */
  B: number;
  /** Values per example (product of shape[1..]). */
  n: number;
  data: Float32Array;
}

/** A tensor of rank ≥ 2 ([B, ...]) with positive dimensions and finite values. */
export function checkBatch(name: string, t: unknown): Batch {
  if (t === null || typeof t !== 'object' || !Array.isArray((t as Tensor).shape)) {
    fail('INVALID_ARGUMENT', `${name} must be a tensor { shape: number[], data: Float32Array } of shape [B, ...]`);
  }
  const shape = (t as Tensor).shape;
  if (shape.length < 2) {
    fail(
      'INVALID_ARGUMENT',
      `${name} has shape ${shapeStr(shape)}, expected a batch [B, ...] of rank >= 2 (one row per example)`,
    );
  }
  const ok = checkTensor(
    name,
    t,
    shape.map(() => -1),
  );
  return { B: shape[0], n: sizeOf(shape) / shape[0], data: ok.data };
}

/** Two batches of the same shape. */
export function checkPair(a: unknown, b: unknown, names: [string, string] = ['a', 'b']): [Batch, Batch] {
  const A = checkBatch(names[0], a);
  const shapeA = (a as Tensor).shape;
  if (b === null || typeof b !== 'object' || !Array.isArray((b as Tensor).shape)) {
    fail(
      'INVALID_ARGUMENT',
      `${names[1]} must be a tensor { shape: number[], data: Float32Array } of shape ${shapeStr(shapeA)} (the shape of ${names[0]})`,
    );
  }
  const shapeB = (b as Tensor).shape;
  if (shapeB.length !== shapeA.length || shapeB.some((d, i) => d !== shapeA[i])) {
    fail(
      'INVALID_ARGUMENT',
      `${names[1]} has shape ${shapeStr(shapeB)}, expected ${shapeStr(shapeA)} (the shape of ${names[0]})`,
    );
  }
  const Bt = checkTensor(names[1], b, shapeA);
  return [A, { B: A.B, n: A.n, data: Bt.data }];
}

export function row(t: Batch, b: number): Float32Array {
  return t.data.subarray(b * t.n, (b + 1) * t.n);
}
