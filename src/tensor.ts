import { fail } from './errors.js';
import { show } from './validate.js';

/** The public tensor: row-major, NCHW for images, float32. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A shape for messages; a hostile shape may have 100,000 entries, so only the first few are listed. */
export function shapeStr(shape: readonly unknown[]): string {
  if (!Array.isArray(shape)) return show(shape);
  const head = shape.slice(0, 8).map((d) => (typeof d === 'number' ? String(d) : show(d)));
  return `[${head.join(', ')}${shape.length > 8 ? `, … (${shape.length} dimensions)` : ''}]`;
}

/** A list of names for messages, cut to the first few. */
export function listStr(names: readonly string[], max = 8): string {
  const head = names.slice(0, max).map((n) => (n.length > 40 ? `${n.slice(0, 37)}...` : n));
  return `${head.join(', ')}${names.length > max ? `, … (${names.length} in all)` : ''}`;
}

export function tensor(data: Float32Array, shape: number[]): Tensor {
  if (!(data instanceof Float32Array))
    fail('INVALID_ARGUMENT', `tensor: data must be a Float32Array, got ${show(data)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail('INVALID_ARGUMENT', `tensor: shape must be an array of non-negative integers, got ${shapeStr(shape)}`);
  }
  if (data.length !== sizeOf(shape)) {
    fail(
      'INVALID_ARGUMENT',
      `tensor data has ${data.length} values but shape ${shapeStr(shape)} needs ${sizeOf(shape)}`,
    );
  }
  return { shape: [...shape], data };
}

/** Checks that `t` is a Tensor of the expected shape (-1 matches any size) with finite values. */
export function checkTensor(name: string, t: unknown, expected: readonly number[]): Tensor {
  if (t === null || typeof t !== 'object' || !Array.isArray((t as Tensor).shape)) {
    fail('INVALID_ARGUMENT', `${name} must be a tensor { shape: number[], data: Float32Array }`);
  }
  const { shape, data } = t as Tensor;
  if (!(data instanceof Float32Array)) {
    fail('INVALID_ARGUMENT', `${name}.data must be a Float32Array, got ${describe(data)}`);
  }
  const ok =
    shape.length === expected.length &&
    shape.every((d, i) => (expected[i] === -1 ? Number.isSafeInteger(d) && d > 0 : d === expected[i]));
  if (!ok) {
    const want = expected.map((d) => (d === -1 ? 'B' : String(d))).join(', ');
    fail('INVALID_ARGUMENT', `${name} has shape ${shapeStr(shape)}, expected [${want}]`);
  }
  if (data.length !== sizeOf(shape)) {
    fail(
      'INVALID_ARGUMENT',
      `${name} has ${data.length} values but its shape ${shapeStr(shape)} needs ${sizeOf(shape)}`,
    );
  }
  checkFinite(name, data, shape);
  return t as Tensor;
}

export function checkFinite(name: string, data: ArrayLike<number>, shape: readonly number[]): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      fail(
        'INVALID_ARGUMENT',
        `${name} has a non-finite value (${data[i]}) at ${indexStr(i, shape)}; every value must be finite`,
      );
    }
  }
}

function indexStr(flat: number, shape: readonly number[]): string {
  const idx: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(flat % shape[d]);
    flat = Math.floor(flat / shape[d]);
  }
  return `[${idx.join(', ')}]`;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  return (v as object).constructor?.name ?? 'object';
}
