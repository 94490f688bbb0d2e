import { fail } from '../errors.js';
import { show } from '../validate.js';
import { opFromSpec, type Op } from '../ops/index.js';
import { MAX_SPEC_INT, type LayerSpec } from '../ops/op.js';
import { shapeStr, sizeOf } from '../tensor.js';

/** The JSON model format: an input shape (per example, CHW or flat) and a list of layers. */
export interface ModelSpec {
  input: number[];
  layers: LayerSpec[];
}

export interface Graph {
  readonly inputShape: readonly number[];
  readonly ops: readonly Op[];
  readonly classes: number;
  /** Every parameter by full PyTorch name (`conv1.weight`) with its shape, in layer order. */
  readonly params: ReadonlyMap<string, readonly number[]>;
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

  const ops: Op[] = [];
  const params = new Map<string, number[]>();
  let shape: readonly number[] = input;
  s.layers.forEach((layer: unknown, i: number) => {
    if (layer === null || typeof layer !== 'object' || typeof (layer as LayerSpec).type !== 'string') {
      fail('INVALID_SPEC', `layers[${i}]: must be an object with a string 'type', got ${show(layer)}`);
    }
    const where = `layers[${i}] (${(layer as LayerSpec).type})`;
    const op = opFromSpec(layer as LayerSpec, shape, where);
    // Sizes multiply: each must stay an exact integer (and indexable), whatever the spec's numbers.
    for (const [what, s] of [
      ['output', op.outShape],
      ...op.params.map((p) => [`parameter '${p.key}'`, p.shape] as const),
    ] as const) {
      if (!(sizeOf(s) <= MAX_SPEC_INT))
        fail('INVALID_SPEC', `${where}: its ${what} ${shapeStr(s)} has more than ${MAX_SPEC_INT} values`);
    }
    for (const p of op.params) {
      const full = `${op.name}.${p.key}`;
      if (params.has(full)) fail('INVALID_SPEC', `${where}: parameter name '${full}' is used by an earlier layer`);
      params.set(full, p.shape);
    }
    ops.push(op);
    shape = op.outShape;
  });
  if (shape.length !== 1) {
    fail(
      'INVALID_SPEC',
      `model spec: the last layer must output flat logits [classes], but it outputs [${shape.join(', ')}]`,
    );
  }
  return { inputShape: input, ops, classes: sizeOf(shape), params };
}
