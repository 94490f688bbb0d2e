// Constant folding for the ONNX importer. A value computed from constants alone (Constant, initializers,
// and the Shape of a computed value, whose batch size is the only unknown) is evaluated at load, so that the
// chains torch.onnx.export writes for `x.view(x.size(0), -1)` (Shape → Gather → Unsqueeze → Concat →
// Reshape) and arithmetic on constants reach the graph as plain constants. The dynamic batch size is
// carried as NaN in integer constants: any arithmetic on it is refused rather than guessed.
import { fail } from '../errors.js';
import { show } from '../validate.js';

/** A constant: float32 data, or integers (int64/int32 shapes, axes, indices) where NaN is the batch size. */
export interface Const {
  shape: number[];
  data: Float32Array | number[];
  int: boolean;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- protobufjs objects are untyped */
export type OnnxNode = {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  domain: string;
  attribute: any[];
};

export const FOLDABLE_OPS = [
  'Constant',
  'Identity',
  'Shape',
  'Gather',
  'Unsqueeze',
  'Squeeze',
  'Concat',
  'Cast',
  'Reshape',
  'Slice',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Neg',
  'Sqrt',
] as const;

const bad = (message: string): never => fail('INVALID_ONNX', message);
const where = (n: OnnxNode) => `node '${n.name}' (${n.opType})`;
const sizeOf = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);

export function attrsOf(n: OnnxNode): Record<string, any> {
  return Object.fromEntries(n.attribute.map((x: any) => [x.name, x]));
}

/** The constant's values as numbers (NaN for the batch size). */
export const valuesOf = (c: Const): number[] => Array.from(c.data);

/** Float data of a constant used as a weight or operand: integers convert exactly, the batch size cannot. */
export function floatOf(c: Const, what: string): Float32Array {
  if (!c.int) return c.data as Float32Array;
  const v = c.data as number[];
  if (v.some((x) => Number.isNaN(x))) bad(`${what}: depends on the dynamic batch size, which a weight cannot`);
  return Float32Array.from(v);
}

/** Integer values of a constant (axes, shapes, indices). */
function intsOf(c: Const, what: string): number[] {
  if (!c.int) bad(`${what}: expected an integer tensor (int64), got float32`);
  return c.data as number[];
}

function make(shape: number[], values: ArrayLike<number>, int: boolean, maxElements: number, what: string): Const {
  const n = sizeOf(shape);
  if (!(n <= maxElements)) bad(`${what}: a folded constant of shape ${show(shape)} is larger than maxBytes allows`);
  return { shape, data: int ? Array.from(values) : Float32Array.from(values), int };
}

/** Row-major strides. */
function strides(s: readonly number[]): number[] {
  const out = new Array<number>(s.length);
  let acc = 1;
  for (let i = s.length - 1; i >= 0; i--) {
    out[i] = acc;
    acc *= s[i];
  }
  return out;
}

function axis(a: number, rank: number, what: string): number {
  const r = a < 0 ? a + rank : a;
  if (!Number.isInteger(r) || r < 0 || r >= rank) bad(`${what}: axis ${a} is outside a tensor of rank ${rank}`);
  return r;
}

/** Numpy broadcasting of two constants. */
function elementwise(
  a: Const,
  b: Const,
  f: (x: number, y: number) => number,
  maxElements: number,
  what: string,
): Const {
  if (a.int !== b.int) bad(`${what}: operands of different element types (integer and float32)`);
  const r = Math.max(a.shape.length, b.shape.length);
  const pa = [...new Array(r - a.shape.length).fill(1), ...a.shape],
    pb = [...new Array(r - b.shape.length).fill(1), ...b.shape];
  const shape = pa.map((d, i) => {
    if (d !== pb[i] && d !== 1 && pb[i] !== 1)
      bad(`${what}: shapes ${show(a.shape)} and ${show(b.shape)} do not broadcast`);
    return d === 1 ? pb[i] : d;
  });
  const n = sizeOf(shape);
  if (!(n <= maxElements)) bad(`${what}: a folded constant of shape ${show(shape)} is larger than maxBytes allows`);
  const sa = strides(pa).map((s, i) => (pa[i] === 1 ? 0 : s)),
    sb = strides(pb).map((s, i) => (pb[i] === 1 ? 0 : s)),
    so = strides(shape);
  const va = valuesOf(a),
    vb = valuesOf(b);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let ia = 0,
      ib = 0;
    for (let d = 0; d < r; d++) {
      const c = Math.floor(i / so[d]) % shape[d];
      ia += c * sa[d];
      ib += c * sb[d];
    }
    const x = va[ia],
      y = vb[ib];
    if (a.int && (Number.isNaN(x) || Number.isNaN(y)))
      bad(`${what}: arithmetic on the dynamic batch size is not supported (a model must not depend on the batch size)`);
    out[i] = a.int ? Math.trunc(f(x, y)) : f(x, y);
  }
  return make(shape, out, a.int, maxElements, what);
}

/**
 * Folds node `n` if every input is a constant (or, for Shape, any value whose shape `shapeOf` knows); returns
 * null when it cannot be folded (the importer then emits a layer or refuses the node).
 */
export function fold(
  n: OnnxNode,
  consts: ReadonlyMap<string, Const>,
  shapeOf: (name: string) => readonly number[] | undefined,
  opset: number,
  maxElements: number,
  tensorOf: (t: any, what: string) => Const,
): Const | null {
  const a = attrsOf(n);
  const w = where(n);
  if (n.opType === 'Constant') {
    if (a.value?.t) return tensorOf(a.value.t, w);
    if (a.value_float) return make([1], [a.value_float.f], false, maxElements, w);
    if (a.value_floats) return make([a.value_floats.floats.length], a.value_floats.floats, false, maxElements, w);
    if (a.value_int) return make([1], [a.value_int.i], true, maxElements, w);
    if (a.value_ints) return make([a.value_ints.ints.length], a.value_ints.ints, true, maxElements, w);
    return bad(`${w}: only a tensor, float(s) or int(s) 'value' is supported`);
  }
  if (n.opType === 'Shape') {
    const full = shapeOf(n.input[0]) ?? consts.get(n.input[0])?.shape;
    if (!full) return null;
    const r = full.length;
    const clip = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
    const s = full.slice(clip(a.start?.i ?? 0), a.end ? clip(a.end.i) : r);
    return make([s.length], s, true, maxElements, w);
  }
  const inputs = n.input.filter((i) => i !== '');
  if (!inputs.every((i) => consts.has(i))) return null;
  const c = (k: number) => consts.get(n.input[k])!;
  const x = c(0);
  // Axes of Unsqueeze/Squeeze: an attribute before opset 13, an input from 13 on.
  const axesOf = (rank: number): number[] | null => {
    const raw = opset >= 13 ? (n.input[1] ? intsOf(c(1), `${w} axes`) : null) : (a.axes?.ints ?? null);
    return raw ? raw.map((v: number) => axis(v, rank, w)) : null;
  };
  switch (n.opType) {
    case 'Identity':
      return x;
    case 'Cast': {
      const to = a.to?.i;
      if (to === 1) return { shape: x.shape, data: floatOf(x, w), int: false };
      if (to === 6 || to === 7) {
        const v = valuesOf(x).map((e) => (Number.isNaN(e) ? e : Math.trunc(e)));
        return make(x.shape, v, true, maxElements, w);
      }
      return bad(`${w}: Cast to element type ${to} is not supported (only float32, int32, int64)`);
    }
    case 'Neg':
      return elementwise(x, make([1], [-1], x.int, maxElements, w), (p, q) => p * q, maxElements, w);
    case 'Sqrt':
      if (x.int) bad(`${w}: Sqrt of an integer tensor`);
      return make(x.shape, valuesOf(x).map(Math.sqrt), false, maxElements, w);
    case 'Add':
      return elementwise(x, c(1), (p, q) => p + q, maxElements, w);
    case 'Sub':
      return elementwise(x, c(1), (p, q) => p - q, maxElements, w);
    case 'Mul':
      return elementwise(x, c(1), (p, q) => p * q, maxElements, w);
    case 'Div':
      return elementwise(x, c(1), (p, q) => p / q, maxElements, w);
    case 'Unsqueeze': {
      const r = x.shape.length + (opset >= 13 ? sizeOf(c(1).shape) : (a.axes?.ints.length ?? 0));
      const ax = axesOf(r);
      if (!ax) return bad(`${w}: needs axes`);
      const shape: number[] = [];
      for (let i = 0, j = 0; i < r; i++) shape.push(ax.includes(i) ? 1 : x.shape[j++]);
      return { ...x, shape };
    }
    case 'Squeeze': {
      const ax = axesOf(x.shape.length) ?? x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
      if (ax.some((i) => x.shape[i] !== 1)) bad(`${w}: cannot squeeze an axis whose size is not 1`);
      return { ...x, shape: x.shape.filter((_, i) => !ax.includes(i)) };
    }
    case 'Concat': {
      const parts = inputs.map((i) => consts.get(i)!);
      const r = x.shape.length;
      const ax = axis(a.axis?.i ?? 0, r, w);
      if (
        parts.some(
          (p) => p.int !== x.int || p.shape.length !== r || p.shape.some((d, i) => i !== ax && d !== x.shape[i]),
        )
      )
        bad(`${w}: constants of mismatched shapes or types ${show(parts.map((p) => p.shape))}`);
      const shape = [...x.shape];
      shape[ax] = parts.reduce((s, p) => s + p.shape[ax], 0);
      const outer = sizeOf(x.shape.slice(0, ax));
      const out: number[] = [];
      for (let o = 0; o < outer; o++)
        for (const p of parts) {
          const block = sizeOf(p.shape.slice(ax));
          out.push(...valuesOf(p).slice(o * block, (o + 1) * block));
        }
      return make(shape, out, x.int, maxElements, w);
    }
    case 'Gather': {
      const idx = c(1);
      const ax = axis(a.axis?.i ?? 0, x.shape.length, w);
      const ids = intsOf(idx, `${w} indices`).map((i) => {
        const k = i < 0 ? i + x.shape[ax] : i;
        if (!(k >= 0 && k < x.shape[ax])) bad(`${w}: index ${i} is outside axis ${ax} of size ${x.shape[ax]}`);
        return k;
      });
      const idxShape = idx.shape; // a scalar index (rank 0) drops the axis
      const outer = sizeOf(x.shape.slice(0, ax)),
        inner = sizeOf(x.shape.slice(ax + 1)),
        v = valuesOf(x);
      const out: number[] = [];
      for (let o = 0; o < outer; o++)
        for (const k of ids) out.push(...v.slice((o * x.shape[ax] + k) * inner, (o * x.shape[ax] + k + 1) * inner));
      return make([...x.shape.slice(0, ax), ...idxShape, ...x.shape.slice(ax + 1)], out, x.int, maxElements, w);
    }
    case 'Reshape': {
      const target = intsOf(c(1), `${w} shape`);
      const total = sizeOf(x.shape);
      const dims = target.map((d, i) => (d === 0 ? x.shape[i] : d));
      const known = dims.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
      const shape = dims.map((d) => (d === -1 ? total / known : d));
      if (shape.some((d) => !Number.isInteger(d) || d < 0) || sizeOf(shape) !== total)
        bad(`${w}: cannot reshape a constant ${show(x.shape)} to ${show(target)}`);
      return { ...x, shape };
    }
    case 'Slice': {
      if (x.shape.length !== 1) bad(`${w}: Slice of constants is supported on 1-D tensors only`);
      const [st, en] = [intsOf(c(1), w)[0], intsOf(c(2), w)[0]];
      const step = n.input[4] ? intsOf(c(4), w)[0] : 1;
      if (n.input[3] && intsOf(c(3), w)[0] !== 0 && intsOf(c(3), w)[0] !== -1) bad(`${w}: axes must be [0]`);
      if (step !== 1) bad(`${w}: only step 1 is supported`);
      const len = x.shape[0];
      const clip = (v: number) => Math.min(Math.max(v < 0 ? v + len : v, 0), len);
      const v = valuesOf(x).slice(clip(st), clip(en));
      return make([v.length], v, x.int, maxElements, w);
    }
    default:
      return null;
  }
}
