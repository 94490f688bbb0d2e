import { resolveSeed } from '../noise/seed.js';
import { fail } from '../errors.js';
import { show } from '../validate.js';
import type { Model } from '../graph/model.js';
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
export async function pgd(model: Model, x: Tensor, o: PgdOptions): Promise<PgdResult> {
  checkTensor('x', x, [-1, ...model.inputShape]);
  const B = x.shape[0], d = x.data.length / B;
  const labels = checkClasses('labels', o?.labels, B, model.classes);
  const norm = o.norm ?? 'linf';
  if (norm !== 'linf' && norm !== 'l2') fail('INVALID_ARGUMENT', `norm must be 'linf' or 'l2', got ${show(norm)}`);
  if (!(o.epsilon > 0) || !Number.isFinite(o.epsilon)) fail('INVALID_ARGUMENT', `epsilon must be a finite number > 0, got ${o.epsilon}`);
  const iterations = o.iterations ?? 10;
  if (!Number.isInteger(iterations) || iterations < 1) fail('INVALID_ARGUMENT', `iterations must be an integer >= 1, got ${iterations}`);
  const step = o.stepSize ?? (2.5 * o.epsilon) / iterations;
  const range = o.range ?? [0, 1];
  const seed = resolveSeed(o.seed);
  let adv: Float32Array = Float32Array.from(x.data);
  if (o.randomStart ?? true) {
    // Uniform in the L∞ cube, or uniform in the L2 ball (Gaussian direction, radius ε·U^(1/d)); then clipped.
    const delta = randomStart(seed, B, d, norm);
    adv = project(adv.map((v, i) => v + o.epsilon * delta[i]), new Float32Array(B * d), x.data, 0, o.epsilon, norm, range, B, d);
  }
  for (let it = 0; it < iterations; it++) {
    const g = await model.inputGradient({ shape: x.shape, data: adv }, { kind: 'crossEntropy', labels });
    adv = project(adv, g.data, x.data, step, o.epsilon, norm, range, B, d);
  }
  const pred = argmaxRows((await model.forward({ shape: x.shape, data: adv })).data, B, model.classes);
  return { adversarial: { shape: [...x.shape], data: adv }, fooled: pred.map((p, b) => p !== labels[b]), seed };
}

/** FGSM (Goodfellow et al. 2015): one full step of size ε from the clean input. */
export function fgsm(model: Model, x: Tensor, o: Omit<PgdOptions, 'iterations' | 'stepSize' | 'randomStart'>): Promise<PgdResult> {
  return pgd(model, x, { ...o, iterations: 1, stepSize: o.epsilon, randomStart: false, seed: o.seed ?? 0 });
}

/** A point of the unit ball (per example) from Philox: uniform in the L∞ cube, or uniform in the L2 ball. */
function randomStart(seed: number, B: number, d: number, norm: Norm): Float32Array {
  const key = seedKey(seed), out = new Float32Array(B * d);
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
