import { resolveSeed } from '../noise/seed.js';
import { fail } from '../errors.js';
import {
  bool,
  choice,
  int,
  options as validateOptions,
  positive,
  range as rangeOption,
  checkpoint,
  show,
  signal,
  throwIfAborted,
} from '../validate.js';
import { Model } from '../graph/model.js';
import { checkWork } from '../limits.js';
import { checkClasses } from '../graph/objective.js';
import { philox4x32, seedKey, uniform01, normalFromUniform } from '../noise/philox.js';
import { checkTensor, type Tensor } from '../tensor.js';
import { argmaxRows, project, type Norm } from './project.js';

export interface PgdOptions {
  labels: number[];
  epsilon: number;
  norm?: Norm; // default 'linf'
  stepSize?: number; // default 2.5·ε/iterations (Madry et al.)
  iterations?: number; // default 10
  randomStart?: boolean; // default true
  range?: [number, number]; // default [0, 1]
  seed?: number;
  /** Stops the attack (an ABORTED error) when it fires; checked after every iteration. */
  signal?: AbortSignal;
}

export interface PgdResult {
  adversarial: Tensor;
  /** Per example: the model misclassifies the adversarial input. */
  fooled: boolean[];
  seed: number;
}

/**
 * Projected gradient ascent on the cross-entropy of the true labels (Madry et al. 2018), L∞ or L2,
 * with a seeded uniform random start in the ε-ball; each step is one batched input gradient.
 */
export async function pgd(model: Model, x: Tensor, options: PgdOptions): Promise<PgdResult> {
  return run('pgd', model, x, options, [
    'labels',
    'epsilon',
    'norm',
    'stepSize',
    'iterations',
    'randomStart',
    'range',
    'seed',
    'signal',
  ]);
}

/** FGSM (Goodfellow et al. 2015): one full step of size ε from the clean input. */
export async function fgsm(
  model: Model,
  x: Tensor,
  options: Omit<PgdOptions, 'iterations' | 'stepSize' | 'randomStart'>,
): Promise<PgdResult> {
  return run('fgsm', model, x, options, ['labels', 'epsilon', 'norm', 'range', 'seed', 'signal']);
}

async function run(fn: 'pgd' | 'fgsm', model: Model, x: Tensor, options: unknown, keys: string[]): Promise<PgdResult> {
  if (!(model instanceof Model))
    fail('INVALID_ARGUMENT', `${fn}: model must be a Model from loadModel(), got ${show(model)}`);
  checkTensor('x', x, [-1, ...model.inputShape]);
  const o = validateOptions(fn, options, keys, true);
  const B = x.shape[0],
    d = x.data.length / B;
  const labels = checkClasses(`${fn}: labels`, o.labels, B, model.classes);
  const norm = choice(`${fn}: norm`, o.norm, ['linf', 'l2'] as const, 'linf');
  const epsilon = positive(`${fn}: epsilon`, o.epsilon);
  const iterations = fn === 'fgsm' ? 1 : int(`${fn}: iterations`, o.iterations, 10, 1);
  checkWork('attackIterations', iterations * B, `${fn}: the iterations × examples`, 'use fewer iterations or examples');
  // A step must move up the loss: a negative step would silently run gradient descent.
  const step = fn === 'fgsm' ? epsilon : positive(`${fn}: stepSize`, o.stepSize, (2.5 * epsilon) / iterations);
  const range = rangeOption(`${fn}: range`, o.range, [0, 1]);
  const randomStart = fn === 'fgsm' ? false : bool(`${fn}: randomStart`, o.randomStart, true);
  const seed = fn === 'fgsm' && o.seed === undefined ? 0 : resolveSeed(o.seed);
  const abort = signal(`${fn}: signal`, o.signal);
  throwIfAborted(abort, fn);
  let adv: Float32Array = Float32Array.from(x.data);
  if (randomStart) {
    // Uniform in the L∞ cube, or uniform in the L2 ball (Gaussian direction, radius ε·U^(1/d)); then clipped.
    const delta = randomStart_(seed, B, d, norm);
    adv = project(
      adv.map((v, i) => v + epsilon * delta[i]),
      new Float32Array(B * d),
      x.data,
      0,
      epsilon,
      norm,
      range,
      B,
      d,
    );
  }
  adv = await projectedAscent(model, x.shape, adv, x.data, labels, { step, epsilon, norm, range, iterations }, (done) =>
    checkpoint(abort, `${fn} (after ${done} of ${iterations} iterations)`),
  );
  const pred = argmaxRows((await model.forward({ shape: x.shape, data: adv })).data, B, model.classes);
  return { adversarial: { shape: [...x.shape], data: adv }, fooled: pred.map((p, b) => p !== labels[b]), seed };
}

/**
 * `iterations` steps of projected ascent on the cross-entropy of `labels` from `start`: one batched input
 * gradient a step, each step projected onto the ε-ball around x0 and the range. `between(done)` runs after
 * every step but the last (pgd's abort checkpoint).
 */
export async function projectedAscent(
  model: Model,
  shape: readonly number[],
  start: Float32Array,
  x0: Float32Array,
  labels: number[],
  p: { step: number; epsilon: number; norm: Norm; range: [number, number]; iterations: number },
  between: (done: number) => Promise<void> = async () => {},
): Promise<Float32Array> {
  const B = shape[0],
    d = start.length / B;
  let adv = start;
  for (let it = 0; it < p.iterations; it++) {
    const g = await model.inputGradient({ shape: [...shape], data: adv }, { kind: 'crossEntropy', labels });
    adv = project(adv, g.data, x0, p.step, p.epsilon, p.norm, p.range, B, d);
    if (it + 1 < p.iterations) await between(it + 1);
  }
  return adv;
}

/** A point of the unit ball (per example) from Philox: uniform in the L∞ cube, or uniform in the L2 ball. */
function randomStart_(seed: number, B: number, d: number, norm: Norm): Float32Array {
  const key = seedKey(seed),
    out = new Float32Array(B * d);
  for (let b = 0; b < B; b++) {
    let n2 = 0;
    for (let i = 0; i < d; i++) {
      const u = uniform01(philox4x32(Math.floor(i / 4), 0, b, 2, key[0], key[1])[i % 4]);
      out[b * d + i] = norm === 'linf' ? 2 * u - 1 : normalFromUniform(u);
      n2 += out[b * d + i] ** 2;
    }
    if (norm === 'l2') {
      const r = uniform01(philox4x32(0, 0, b, 3, key[0], key[1])[0]) ** (1 / d) / Math.sqrt(n2);
      for (let i = 0; i < d; i++) out[b * d + i] *= r;
    }
  }
  return out;
}
