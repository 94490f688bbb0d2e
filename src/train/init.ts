import { DATA_STREAM, uniformAt } from '../data/random.js';
import type { Engine } from '../engine.js';
import { Model, type ParamRecord } from '../graph/model.js';
import { buildGraph } from '../graph/spec.js';
import { resolveSeed } from '../noise/seed.js';
import { sizeOf } from '../tensor.js';

/**
 * A model with fresh weights: PyTorch's default initialisation of Linear and Conv2d (weights and biases
 * uniform in ±1/√fan_in, fan_in = in·kh·kw), drawn from Philox keyed by the seed and the parameter's
 * position, so the same seed gives the same model everywhere; batch norm as PyTorch's BatchNorm: weight 1,
 * bias 0, running mean 0, running variance 1; an elementwise layer's constant is its operation's identity.
 */
export function initModel(
  engine: Engine,
  spec: unknown,
  options: { seed?: number } = {},
): { model: Model; seed: number } {
  const graph = buildGraph(spec);
  const seed = resolveSeed(options?.seed);
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  const fanIn = new Map<string, number>();
  for (const [name, shape] of graph.params) {
    if (name.endsWith('.weight')) fanIn.set(name.slice(0, -'.weight'.length), sizeOf(shape.slice(1)));
  }
  const batchNorms = new Set(graph.ops.filter((op) => op.type.startsWith('batchnorm')).map((op) => op.name));
  const constant = (shape: readonly number[], value: number) => ({
    shape: [...shape],
    data: new Float32Array(sizeOf(shape)).fill(value),
  });
  // Elementwise constants start as the identity of their operation (x·1, x/1, x ± 0).
  const constants = new Map(
    graph.ops.flatMap((op) =>
      op.params.flatMap((q) => (q.fullName ? [[q.fullName, op.type === 'mul' || op.type === 'div' ? 1 : 0]] : [])),
    ) as [string, number][],
  );
  [...graph.params].forEach(([name, shape], p) => {
    if (constants.has(name)) {
      weights.set(name, constant(shape, constants.get(name)!));
      return;
    }
    const layer = name.slice(0, name.lastIndexOf('.'));
    if (batchNorms.has(layer)) {
      weights.set(name, constant(shape, name.endsWith('.weight') ? 1 : 0));
      return;
    }
    const bound = 1 / Math.sqrt(fanIn.get(layer) ?? 1);
    const data = Float32Array.from(
      { length: sizeOf(shape) },
      (_, i) => (2 * uniformAt(seed, DATA_STREAM.init, p, 0, i) - 1) * bound,
    );
    weights.set(name, { shape: [...shape], data });
  });
  for (const [name, shape] of graph.buffers ?? [])
    weights.set(name, constant(shape, name.endsWith('.running_var') ? 1 : 0));
  return { model: new Model(engine, graph, weights), seed };
}

/** The weights of a model as a plain record (a convenience over model.getWeights for symmetry with setWeights). */
export function weightsOf(model: Model): ParamRecord {
  return model.getWeights();
}
