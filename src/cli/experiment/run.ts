import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { attackExplanation } from '../../attack/explanation-attack.js';
import type { ExplainMethod, ExplainSpec } from '../../attack/explain.js';
import { attributionMap, integratedGradients, smoothGrad, uniformGradient } from '../../attribution/methods.js';
import { loadMnist, subset } from '../../data/mnist.js';
import type { Engine } from '../../engine.js';
import { fail } from '../../errors.js';
import { loadModel, type Model } from '../../graph/model.js';
import { heatmapPng } from '../../io/png.js';
import { centerOfMassDislocation } from '../../metrics/maps.js';
import { kendallTau, topKIntersection } from '../../metrics/rank.js';
import type { Tensor } from '../../tensor.js';
import { evaluateAccuracy } from '../../train/evaluate.js';
import { ssrCurvature } from '../../train/ssr.js';
import { linePlotPng } from './plot.js';

export interface ExperimentOptions {
  modelsDir: string;
  spec: string;
  models: string[];
  digits: number;
  epsilon: number;
  step: number;
  steps: number;
  k: number;
  samples: number;
  sigma: number;
  radius: number;
  igSteps: number;
  curveEpsilons: number[];
  /** SmoothGrad samples of the Theorem 2 estimate (the same noise at both points of a pair). */
  lipschitzSamples: number;
  splitSeed: number;
  seed: number;
}

export const METHODS: ExplainMethod[] = [
  'saliency',
  'inputXGradient',
  'smoothGrad',
  'uniformGradient',
  'integratedGradients',
];
const COLORS: Record<ExplainMethod, [number, number, number]> = {
  saliency: [220, 40, 40],
  inputXGradient: [240, 150, 20],
  smoothGrad: [40, 90, 220],
  uniformGradient: [30, 160, 60],
  integratedGradients: [140, 60, 180],
};

/** Mean and standard error of the mean. */
export interface Stat {
  mean: number;
  se: number;
  n: number;
}
export function stat(v: number[]): Stat {
  const n = v.length,
    mean = v.reduce((a, q) => a + q, 0) / Math.max(1, n);
  const variance = n > 1 ? v.reduce((a, q) => a + (q - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, se: Math.sqrt(variance / Math.max(1, n)), n };
}

export interface MethodResult {
  topKIntersection: Stat;
  kendallTau: Stat;
  centerOfMassDislocation: Stat;
  /** Digits for which a label-preserving iterate moved the map (the best iterate is not the clean input). */
  successRate: number;
  labelPreserved: number;
}

export interface ModelResult {
  name: string;
  cleanAccuracy: number;
  lambdaMax: Stat;
  secondsPerEpoch: number | null;
  /** Accuracy at an L∞ PGD adversary, as `smoothgeo evaluate --record` stored it in the training record. */
  pgdAccuracy: { robustAccuracy: number; attack: unknown; digits: number } | null;
  training: unknown;
  methods: Record<string, MethodResult>;
  /** Top-k intersection of each method between x and the saliency attack's adversarial point. */
  transfer: Record<string, Stat>;
  /** Top-k intersection against ε (ε = 0 is 1 by definition), per method. */
  curve: { epsilons: number[]; topK: Record<string, number[]> };
  theorem2: {
    sigma: number;
    bound: number;
    worstRatio: number;
    pairs: number;
    ratios: { attack: number[]; random: number[]; digits: number[] };
  };
}

export interface ExperimentOutput {
  results: {
    models: ModelResult[];
    digits: { ids: number[]; labels: number[] };
    options: ExperimentOptions;
    backend: string;
    adapter: string;
  };
  figures: { path: string; bytes: Uint8Array }[];
}

function explainSpec(method: ExplainMethod, o: ExperimentOptions): ExplainSpec {
  switch (method) {
    case 'smoothGrad':
      return { method, sigma: o.sigma, samples: o.samples };
    case 'uniformGradient':
      return { method, radius: o.radius, shape: 'cube', samples: o.samples };
    case 'integratedGradients':
      return { method, steps: o.igSteps };
    default:
      return { method };
  }
}

/** The post-processed map (Σ_c |a|, normalised to sum to H·W) of a smoothed method at x, with a fixed seed. */
async function mapOf(
  model: Model,
  x: Tensor,
  method: ExplainMethod,
  target: number[],
  o: ExperimentOptions,
  seed: number,
  exampleIds: number[],
): Promise<Tensor> {
  const a =
    method === 'smoothGrad'
      ? await smoothGrad(model, x, { target, sigma: o.sigma, samples: o.samples, seed, exampleIds })
      : method === 'uniformGradient'
        ? await uniformGradient(model, x, {
            target,
            radius: o.radius,
            shape: 'cube',
            samples: o.samples,
            seed,
            exampleIds,
          })
        : await integratedGradients(model, x, { target, steps: o.igSteps });
  return attributionMap(a.attributions);
}

function l2(a: ArrayLike<number>, b: ArrayLike<number>, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

/**
 * The paper's experiment (Wang et al. 2020, §5) on real MNIST test digits: for each model and explanation
 * method, Ghorbani's top-k attack (Chen et al.'s setting by default); the transfer of the saliency attack
 * to the smoothed methods; and Theorem 2's Lipschitz bound of SmoothGrad on the probability output.
 */
export async function runExperiment(
  engine: Engine,
  o: ExperimentOptions,
  log: (s: string) => void,
): Promise<ExperimentOutput> {
  const spec = JSON.parse(readFileSync(o.spec, 'utf8'));
  const { test } = await loadMnist({ seed: o.splitSeed });
  const models: { name: string; model: Model; record: Record<string, unknown> | null }[] = [];
  for (const name of o.models) {
    const file = join(o.modelsDir, `lenet-${name}.safetensors`);
    if (!existsSync(file))
      fail(
        'INVALID_ARGUMENT',
        `experiment: no checkpoint ${file} (train it with: smoothgeo train --regularizer ..., see examples/models/README.md)`,
      );
    const recFile = join(o.modelsDir, `lenet-${name}.json`);
    models.push({
      name,
      model: await loadModel(engine, spec, readFileSync(file)),
      record: existsSync(recFile) ? JSON.parse(readFileSync(recFile, 'utf8')) : null,
    });
  }

  // Clean accuracy on every test digit, then the fixed digits: the first (in the split's order) that every model gets right.
  const predictions: number[][] = [];
  const accuracy: number[] = [];
  for (const m of models) {
    const r = await evaluateAccuracy(m.model, test);
    predictions.push(r.predictions);
    accuracy.push(r.accuracy);
    log(`${m.name}: clean accuracy ${(r.accuracy * 100).toFixed(2)}% on ${test.labels.length} test digits`);
  }
  const rows: number[] = [];
  for (let i = 0; i < test.labels.length && rows.length < o.digits; i++)
    if (predictions.every((p) => p[i] === test.labels[i])) rows.push(i);
  if (rows.length === 0) fail('INVALID_ARGUMENT', 'experiment: no test digit is classified correctly by every model');
  const digits = subset(test, rows);
  const x = digits.x,
    labels = digits.labels,
    B = rows.length,
    d = x.data.length / B;
  const [, , H, W] = x.shape;
  log(`digits: ${B} (test ids ${digits.ids.join(', ')}), labels ${labels.join(', ')}`);

  const figures: ExperimentOutput['figures'] = [];
  const epsilons = [...new Set([...o.curveEpsilons, o.epsilon])].sort((a, b) => a - b);
  const results: ModelResult[] = [];
  for (const [mi, m] of models.entries()) {
    const lam = await ssrCurvature(m.model, x, { labels, seed: o.seed, iterations: 100, tol: 1e-3 });
    const spe = (m.record?.secondsPerEpoch as number[] | undefined) ?? null;
    const pgd = m.record?.robustAccuracy as
      { robustAccuracy?: unknown; attack?: unknown; digits?: unknown } | undefined;
    const res: ModelResult = {
      name: m.name,
      cleanAccuracy: accuracy[mi],
      lambdaMax: stat(lam.lambdaMax),
      secondsPerEpoch: spe ? spe.reduce((a, q) => a + q, 0) / spe.length : null,
      pgdAccuracy:
        typeof pgd?.robustAccuracy === 'number' && typeof pgd.digits === 'number'
          ? { robustAccuracy: pgd.robustAccuracy, attack: pgd.attack, digits: pgd.digits }
          : null,
      training: m.record
        ? {
            command: m.record.command,
            seed: m.record.seed,
            backend: m.record.backend,
            testAccuracy: m.record.testAccuracy,
          }
        : null,
      methods: {},
      transfer: {},
      curve: { epsilons: [0, ...epsilons], topK: {} },
      theorem2: {
        sigma: o.sigma,
        bound: 2 / (o.sigma * o.sigma),
        worstRatio: 0,
        pairs: 0,
        ratios: { attack: [], random: [], digits: [] },
      },
    };
    log(`${m.name}: mean λ_max ${res.lambdaMax.mean.toExponential(3)} ± ${res.lambdaMax.se.toExponential(2)}`);
    let salAdv: Tensor | null = null,
      sgAdv: Tensor | null = null;
    for (const [ki, method] of METHODS.entries()) {
      res.curve.topK[method] = [1];
      for (const eps of epsilons) {
        const t0 = performance.now();
        const a = await attackExplanation(m.model, x, {
          attack: 'topk',
          explain: explainSpec(method, o),
          epsilon: eps,
          stepSize: o.step,
          iterations: o.steps,
          k: o.k,
          seed: o.seed + 1000 * ki,
        });
        const topk = topKIntersection(a.originalMap, a.attackedMap, o.k);
        res.curve.topK[method].push(stat(topk).mean);
        if (eps !== o.epsilon) continue;
        res.methods[method] = {
          topKIntersection: stat(topk),
          kendallTau: stat(kendallTau(a.originalMap, a.attackedMap)),
          centerOfMassDislocation: stat(centerOfMassDislocation(a.originalMap, a.attackedMap)),
          successRate: a.bestIteration.filter((it) => it > 0).length / B,
          labelPreserved: a.labelPreserved.filter(Boolean).length / B,
        };
        log(
          `${m.name} ${method} ε=${eps}: top-k ${res.methods[method].topKIntersection.mean.toFixed(3)}, τ ${res.methods[method].kendallTau.mean.toFixed(3)}, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        );
        if (method === 'saliency') salAdv = a.adversarial;
        if (method === 'smoothGrad') sgAdv = a.adversarial;
        const one = (t: Tensor) => ({ shape: [H, W], data: t.data.subarray(0, H * W) });
        figures.push({
          path: `maps/${m.name}-${method}-before.png`,
          bytes: heatmapPng(one(a.originalMap), { palette: 'sequential' }),
        });
        figures.push({
          path: `maps/${m.name}-${method}-after.png`,
          bytes: heatmapPng(one(a.attackedMap), { palette: 'sequential' }),
        });
        figures.push({
          path: `maps/${m.name}-${method}-adversarial-digit.png`,
          bytes: heatmapPng({ shape: [H, W], data: a.adversarial.data.subarray(0, d) }, { palette: 'sequential' }),
        });
      }
    }
    figures.push({
      path: `topk-vs-epsilon-${m.name}.png`,
      bytes: linePlotPng(
        res.curve.epsilons,
        METHODS.map((mt) => ({ values: res.curve.topK[mt], color: COLORS[mt] })),
      ),
    });

    // Transfer (RQ3): the saliency attack's adversarial digits, explained by the smoothed methods.
    const target = labels;
    for (const method of ['smoothGrad', 'uniformGradient', 'integratedGradients'] as ExplainMethod[]) {
      const before = await mapOf(m.model, x, method, target, o, o.seed + 7, digits.ids);
      const after = await mapOf(m.model, salAdv!, method, target, o, o.seed + 7, digits.ids);
      res.transfer[method] = stat(topKIntersection(before, after, o.k));
    }
    log(
      `${m.name} transfer of the saliency attack: ${Object.entries(res.transfer)
        .map(([k, v]) => `${k} ${v.mean.toFixed(3)}`)
        .join(', ')}`,
    );

    // Theorem 2: SmoothGrad of the softmax probability (F = 1) is Lipschitz with constant ≤ 2F/σ². The same
    // noise at both points of a pair (same seed and example ids), many samples to keep Monte Carlo error small.
    const sgSamples = o.lipschitzSamples;
    const sgp = async (at: Tensor) =>
      (
        await smoothGrad(m.model, at, {
          target,
          output: 'probability',
          sigma: o.sigma,
          samples: sgSamples,
          seed: o.seed + 11,
          exampleIds: digits.ids,
        })
      ).attributions.data;
    const g0 = await sgp(x);
    const ratios = async (other: Tensor) => {
      const g1 = await sgp(other);
      return Array.from({ length: B }, (_, b) => {
        const dx = l2(x.data, other.data, b * d, (b + 1) * d);
        return dx > 0 ? l2(g0, g1, b * d, (b + 1) * d) / dx : 0;
      });
    };
    res.theorem2.ratios.attack = await ratios(sgAdv!);
    const noisy = Float32Array.from(x.data, (v, i) =>
      Math.min(1, Math.max(0, v + o.epsilon * (2 * (((i * 2654435761 + o.seed) >>> 0) / 2 ** 32) - 1))),
    );
    res.theorem2.ratios.random = await ratios({ shape: [...x.shape], data: noisy });
    if (B > 1) {
      const rolled = new Float32Array(x.data.length);
      for (let b = 0; b < B; b++) rolled.set(x.data.subarray(((b + 1) % B) * d, (((b + 1) % B) + 1) * d), b * d);
      res.theorem2.ratios.digits = await ratios({ shape: [...x.shape], data: rolled });
    }
    const all = [...res.theorem2.ratios.attack, ...res.theorem2.ratios.random, ...res.theorem2.ratios.digits];
    res.theorem2.worstRatio = Math.max(...all);
    res.theorem2.pairs = all.length;
    log(
      `${m.name} Theorem 2: worst ‖SG(x) − SG(x′)‖/‖x − x′‖ = ${res.theorem2.worstRatio.toFixed(4)} (bound 2/σ² = ${res.theorem2.bound.toFixed(1)}) over ${all.length} pairs`,
    );
    results.push(res);
  }
  figures.push({
    path: 'digit.png',
    bytes: heatmapPng({ shape: [H, W], data: x.data.subarray(0, d) }, { palette: 'sequential' }),
  });
  return {
    results: {
      models: results,
      digits: { ids: digits.ids, labels },
      options: o,
      backend: engine.backend,
      adapter: engine.describe(),
    },
    figures,
  };
}
