import { fail } from '../errors.js';
import { show } from '../validate.js';
import { Model } from '../graph/model.js';
import type { Graph } from '../graph/spec.js';
import { Activation } from '../ops/activation.js';
import type { Tensor } from '../tensor.js';

/**
 * A smooth surrogate of a ReLU network: the same graph and weights on the same engine, with every `relu`
 * replaced by softplus_β(z) = log(1 + exp(βz)) / β. It converges to the ReLU model as β grows
 * (|softplus_β − relu| ≤ log 2 / β), and unlike it has curvature: ReLU's second derivative is zero, so a
 * ReLU network's input Hessian of a logit is zero almost everywhere.
 */
export function softplusSurrogate(model: Model, beta: number): Model {
  if (!(model instanceof Model)) fail('INVALID_ARGUMENT', 'softplusSurrogate: model must be a Model (from loadModel)');
  if (typeof beta !== 'number' || !Number.isFinite(beta) || beta <= 0) {
    fail('INVALID_ARGUMENT', `softplusSurrogate: beta must be a finite number > 0, got ${show(beta)}`);
  }
  const g = model.graph;
  const graph: Graph = {
    inputShape: [...g.inputShape],
    ops: g.ops.map((op) => (op.type === 'relu' ? new Activation('softplus', op.inShape, beta) : op)),
    ...(g.inputs ? { inputs: g.inputs } : {}),
    ...(g.buffers ? { buffers: g.buffers } : {}),
    classes: g.classes,
    params: new Map(g.params),
  };
  const weights = new Map<string, Tensor>(Object.entries(model.getWeights()));
  return new Model(model.engine, graph, weights);
}

/**
 * Warns (console.warn, once per call) when a curvature result is identically zero for some example: all
 * its eigenvalues, or its trace. Returns the examples that were. `what` names the result ('eigenvalues', 'trace').
 */
export function warnIfZero(values: readonly (number | readonly number[])[], what: string): number[] {
  const zero: number[] = [];
  values.forEach((v, b) => {
    const all = typeof v === 'number' ? [v] : v;
    if (all.length > 0 && all.every((e) => e === 0)) zero.push(b);
  });
  if (zero.length) {
    const where =
      zero.length === values.length
        ? values.length === 1
          ? ''
          : ' for every example'
        : ` for example${zero.length > 1 ? 's' : ''} ${zero.join(', ')}`;
    console.warn(
      `smoothgeo: curvature is identically zero (the Hessian ${what})${where}: the model has no curvature there. ` +
        "ReLU networks have a zero input Hessian of a logit almost everywhere, since ReLU's second derivative is zero; " +
        'use softplusSurrogate(model, beta) for a smooth model with the same weights.',
    );
  }
  return zero;
}
