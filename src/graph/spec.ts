import { fail } from '../errors.js';
import { show } from '../validate.js';
import { graphOpFromSpec, type GraphOp } from '../ops/index.js';
import { MAX_SPEC_INT, paramName, type LayerSpec } from '../ops/op.js';
import { shapeStr, sizeOf } from '../tensor.js';

/**
 * The JSON model format: an input shape (per example, CHW or flat) and a list of layers. A layer reads the
 * previous layer's output unless it names its `inputs`: ids of earlier layers (their `id` field) or
 * 'input' (the model's input). Only earlier layers can be named, so the graph is acyclic by construction
 * and the layer order is a topological order. The last layer's output is the logits.
 */
export interface ModelSpec {
  input: number[];
  layers: LayerSpec[];
}

export interface Graph {
  readonly inputShape: readonly number[];
  /** In topological order. */
  readonly ops: readonly GraphOp[];
  /**
   * For each op, the values it reads: 0 is the model input, i + 1 the output of ops[i]. Absent: a chain
   * (op i reads value i), the graph of every spec without `inputs`.
   */
  readonly inputs?: readonly (readonly number[])[];
  readonly classes: number;
  /** Every parameter by full PyTorch name (`conv1.weight`) with its shape, in layer order. */
  readonly params: ReadonlyMap<string, readonly number[]>;
  /** Constants loaded with the weights (batch norm's `running_mean`, `running_var`): no gradients. */
  readonly buffers?: ReadonlyMap<string, readonly number[]>;
}

/** Validates a spec and infers every layer's shape. Errors name the layer (index and type) and the field. */
export function buildGraph(spec: unknown): Graph {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    fail('INVALID_SPEC', `model spec must be an object { input: [C, H, W], layers: [...] }, got ${show(spec)}`);
  }
  const s = spec as Record<string, unknown>;
  for (const k of Object.keys(s)) {
    if (k !== 'input' && k !== 'layers')
      fail('INVALID_SPEC', `model spec: unknown field '${k}'; expected only 'input' and 'layers'`);
  }
  const input = s.input;
  if (
    !Array.isArray(input) ||
    !(input.length === 1 || input.length === 3) ||
    !input.every((d) => Number.isInteger(d) && d > 0 && d <= MAX_SPEC_INT)
  ) {
    fail(
      'INVALID_SPEC',
      `model spec: 'input' must be [C, H, W] or [features] with positive integers, got ${show(input)}`,
    );
  }
  if (!Array.isArray(s.layers) || s.layers.length === 0)
    fail('INVALID_SPEC', `model spec: 'layers' must be a non-empty array`);

  const ops: GraphOp[] = [];
  const inputs: number[][] = [];
  const params = new Map<string, number[]>();
  const buffers = new Map<string, number[]>();
  // Value shapes (0 the input, i + 1 layer i's output) and ids → value index.
  const shapes: (readonly number[])[] = [input];
  const ids = new Map<string, number>([['input', 0]]);
  const used = new Set<number>();
  let shape: readonly number[] = input;
  s.layers.forEach((layer: unknown, i: number) => {
    if (layer === null || typeof layer !== 'object' || typeof (layer as LayerSpec).type !== 'string') {
      fail('INVALID_SPEC', `layers[${i}]: must be an object with a string 'type', got ${show(layer)}`);
    }
    const where = `layers[${i}] (${(layer as LayerSpec).type})`;
    const { id, inputs: named, ...fields } = layer as LayerSpec;
    const reads = named === undefined ? [i] : resolveInputs(named, ids, where);
    for (const v of reads) used.add(v);
    if (id !== undefined) {
      if (typeof id !== 'string' || !/^[A-Za-z_][\w.]*$/.test(id))
        fail('INVALID_SPEC', `${where}: field 'id' must be a name like "block1.out", got ${show(id)}`);
      if (ids.has(id))
        fail(
          'INVALID_SPEC',
          `${where}: id '${id}' is ${id === 'input' ? 'reserved for the model input' : 'used by an earlier layer'}`,
        );
      ids.set(id, i + 1);
    }
    const op = graphOpFromSpec(
      fields as LayerSpec,
      reads.map((v) => shapes[v]),
      where,
    );
    inputs.push(reads);
    shapes.push(op.outShape);
    // Sizes multiply: each must stay an exact integer (and indexable), whatever the spec's numbers.
    for (const [what, s] of [
      ['output', op.outShape],
      ...op.params.map((p) => [`parameter '${p.key}'`, p.shape] as const),
    ] as const) {
      if (!(sizeOf(s) <= MAX_SPEC_INT))
        fail('INVALID_SPEC', `${where}: its ${what} ${shapeStr(s)} has more than ${MAX_SPEC_INT} values`);
    }
    for (const p of op.params) {
      const full = paramName(op, p.key);
      if (params.has(full) || buffers.has(full))
        fail('INVALID_SPEC', `${where}: parameter name '${full}' is used by an earlier layer`);
      (p.buffer ? buffers : params).set(full, p.shape);
    }
    ops.push(op);
    shape = op.outShape;
  });
  // A layer whose output nothing reads is a mistake in the spec (a branch never joined), not dead code to skip.
  for (let v = 1; v < shapes.length - 1; v++) {
    if (!used.has(v))
      fail(
        'INVALID_SPEC',
        `layers[${v - 1}] (${ops[v - 1].type}): its output is read by no later layer; name it in an 'inputs' list or remove it`,
      );
  }
  if (shape.length !== 1) {
    fail(
      'INVALID_SPEC',
      `model spec: the last layer must output flat logits [classes], but it outputs [${shape.join(', ')}]`,
    );
  }
  const chain = inputs.every((r, i) => r.length === 1 && r[0] === i);
  return {
    inputShape: input,
    ops,
    classes: sizeOf(shape),
    params,
    ...(buffers.size ? { buffers } : {}),
    ...(chain ? {} : { inputs }),
  };
}

/** `inputs` of a layer: a non-empty list of ids of earlier layers or 'input', as value indices. */
function resolveInputs(named: unknown, ids: ReadonlyMap<string, number>, where: string): number[] {
  if (!Array.isArray(named) || named.length === 0 || !named.every((n) => typeof n === 'string')) {
    fail(
      'INVALID_SPEC',
      `${where}: field 'inputs' must be a non-empty list of ids of earlier layers (or 'input'), got ${show(named)}`,
    );
  }
  return named.map((n: string) => {
    const v = ids.get(n);
    if (v === undefined) {
      fail(
        'INVALID_SPEC',
        `${where}: input '${n}' is not the id of an earlier layer; known ids: ${[...ids.keys()].join(', ')}`,
      );
    }
    return v;
  });
}
