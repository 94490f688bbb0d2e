import { boxStart, DATA_STREAM } from '../data/random.js';
import { fail } from '../errors.js';
import { Model } from '../graph/model.js';
import { checkClasses } from '../graph/objective.js';
import { resolveSeed } from '../noise/seed.js';
import { checkTensor, type Tensor } from '../tensor.js';
import {
  bool,
  checkpoint,
  int,
  options as validateOptions,
  positive,
  range as rangeOption,
  show,
  signal,
  throwIfAborted,
} from '../validate.js';
import { projectedAscent } from './pgd.js';
import { argmaxRows } from './project.js';

export interface RobustAccuracyOptions {
  labels: number[];
  /** L∞ radius. */
  epsilon: number;
  /** Step of each signed-gradient ascent step. Default 0.01 (Madry et al.'s MNIST setting). */
  stepSize?: number;
  /** PGD steps. Default 40. */
  iterations?: number;
  /** Start from a uniform point of the ε-box (clipped to the range). Default true. */
  randomStart?: boolean;
  range?: [number, number];
  seed?: number;
  /** Examples per batch of input gradients. Default 250. */
  batchSize?: number;
  /** Called after each batch with the number of examples done. */
  onBatch?: (done: number) => void;
  /** Stops the call at its next PGD step or batch with an ABORTED error once the signal fires. */
  signal?: AbortSignal;
}

export interface RobustAccuracyResult {
  /** Fraction correct on the clean inputs. */
  accuracy: number;
  /** Fraction correct on the clean input and at the L∞ PGD adversary found for it. */
  robustAccuracy: number;
  /** Per example: correct at both points. */
  robust: boolean[];
  seed: number;
}

/**
 * Accuracy under an L∞ PGD attack on the cross-entropy of the true labels (Madry et al. 2018): `iterations`
 * signed-gradient steps of `stepSize`, each projected onto the ε-box around the clean input and the valid
 * range, from a seeded uniform start in the box. The start of example i is drawn from (seed, i), so the result
 * does not depend on the batch size. An example counts as robust when the model is right on the clean input
 * and at the last iterate (a lower bound on the true robust error is 1 − this).
 */
export async function robustAccuracy(
  model: Model,
  x: Tensor,
  options: RobustAccuracyOptions,
): Promise<RobustAccuracyResult> {
  const fn = 'robustAccuracy';
  if (!(model instanceof Model))
    fail('INVALID_ARGUMENT', `${fn}: model must be a Model from loadModel(), got ${show(model)}`);
  checkTensor('x', x, [-1, ...model.inputShape]);
  const o = validateOptions(
    fn,
    options,
    ['labels', 'epsilon', 'stepSize', 'iterations', 'randomStart', 'range', 'seed', 'batchSize', 'onBatch', 'signal'],
    true,
  );
  const N = x.shape[0],
    d = x.data.length / Math.max(N, 1);
  const labels = checkClasses(`${fn}: labels`, o.labels, N, model.classes);
  const epsilon = positive(`${fn}: epsilon`, o.epsilon);
  const step = positive(`${fn}: stepSize`, o.stepSize, 0.01);
  const iterations = int(`${fn}: iterations`, o.iterations, 40, 0);
  const randomStart = bool(`${fn}: randomStart`, o.randomStart, true);
  const [lo, hi] = rangeOption(`${fn}: range`, o.range, [0, 1]);
  const batchSize = int(`${fn}: batchSize`, o.batchSize, 250, 1);
  const seed = resolveSeed(o.seed);
  if (o.onBatch !== undefined && typeof o.onBatch !== 'function')
    fail('INVALID_ARGUMENT', `${fn}: onBatch must be a function, got ${show(o.onBatch)}`);
  const onBatch = o.onBatch as ((done: number) => void) | undefined;
  const abort = signal(`${fn}: signal`, o.signal);
  throwIfAborted(abort, fn);
  const robust: boolean[] = [];
  let clean = 0;
  for (let s = 0; s < N; s += batchSize) {
    const B = Math.min(batchSize, N - s);
    const shape = [B, ...x.shape.slice(1)];
    const x0 = x.data.slice(s * d, (s + B) * d);
    const y = labels.slice(s, s + B);
    const right = (logits: Tensor) => argmaxRows(logits.data, B, model.classes).map((p, b) => p === y[b]);
    const cleanRight = right(await model.forward({ shape, data: x0 }));
    clean += cleanRight.filter(Boolean).length;
    const ids = Array.from({ length: B }, (_, b) => s + b);
    const start = randomStart
      ? boxStart(seed, DATA_STREAM.robustStart, ids, 0, x0, d, epsilon, [lo, hi])
      : Float32Array.from(x0);
    const adv = await projectedAscent(
      model,
      shape,
      start,
      x0,
      y,
      { step, epsilon, norm: 'linf', range: [lo, hi], iterations },
      (done) => checkpoint(abort, `${fn} (examples ${s}–${s + B - 1}, after ${done} of ${iterations} steps)`),
    );
    const advRight = right(await model.forward({ shape, data: adv }));
    for (let b = 0; b < B; b++) robust.push(cleanRight[b] && advRight[b]);
    onBatch?.(s + B);
    if (s + B < N) await checkpoint(abort, `${fn} (after ${s + B} of ${N} examples)`);
  }
  return {
    accuracy: N ? clean / N : 0,
    robustAccuracy: N ? robust.filter(Boolean).length / N : 0,
    robust,
    seed,
  };
}
