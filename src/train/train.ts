import type { Backend, BTensor } from '../backend/backend.js';
import { checkAugment, shiftAt, shiftImage, type AugmentOptions } from '../data/augment.js';
import { boxStart, DATA_STREAM, permutation } from '../data/random.js';
import type { Dataset } from '../data/mnist.js';
import { fail } from '../errors.js';
import type { Model } from '../graph/model.js';
import type { Graph } from '../graph/spec.js';
import { sweep, type PrimalCache } from '../graph/sweep.js';
import { resolveSeed } from '../noise/seed.js';
import { checkTensor, sizeOf } from '../tensor.js';
import {
  checkOptimizer,
  checkSchedule,
  DeviceOptimizer,
  scheduledLr,
  type OptimizerOptions,
  type ScheduleOptions,
} from './optim.js';
import { progressReporter, type ProgressReporter } from './progress.js';
import { recordPowerIteration, recordSsrGradient, ssrStartVectors } from './ssr.js';

export type Regularizer =
  | { kind: 'none' }
  /**
   * SSR: loss (1 − α)·CE + α·scale·mean λ_max. λ_max by `iterations` power iterations per step (default 1),
   * warm-started from each example's eigenvector of its previous visit (kept on the device; seeded Gaussian
   * vectors before the first).
   */
  | { kind: 'ssr'; alpha: number; scale?: number; iterations?: number }
  /**
   * Madry: cross-entropy at an L∞ PGD adversary (random start in the ε-box, `iterations` steps of size `step`).
   * `epsilonWarmup` (W epochs, default 0): ε and the step grow linearly, step by step, to their full values at
   * the end of epoch W (see `madryEpsilon`), so a small network is not asked to fit the full adversary at once.
   */
  | {
      kind: 'madry';
      epsilon: number;
      step?: number;
      iterations?: number;
      randomStart?: boolean;
      epsilonWarmup?: number;
    };

export interface TrainOptions {
  epochs?: number;
  batchSize?: number;
  optimizer?: OptimizerOptions;
  schedule?: ScheduleOptions;
  regularizer?: Regularizer;
  /** Seed of the batch order, SSR's start vectors and Madry's random starts; drawn and reported when omitted. */
  seed?: number;
  /** A progress bar on stderr (cli-progress). Default: on when stderr is a TTY. */
  progress?: boolean;
  /** Steps between reads of the running loss (each read submits the recorded work). Default 20. */
  reportEvery?: number;
  /** Stop after this many steps in all (tests, smoke runs). */
  maxSteps?: number;
  /** Pixel range for Madry's clipping. Default [0, 1]. */
  range?: [number, number];
  /** Called after every epoch with its record. */
  onEpoch?: (e: EpochRecord) => void;
  /**
   * Random translations of the training inputs ([C, H, W] models): each visit of an example shifts it by
   * (dx, dy) drawn from the seed, the example and the epoch, with zero fill (done on the host while the
   * batch is assembled). Off by default.
   */
  augment?: AugmentOptions;
}

export interface EpochRecord {
  epoch: number;
  /** Mean cross-entropy over the epoch's training batches (at the adversarial points for Madry). */
  loss: number;
  /** Training accuracy over the same batches. */
  accuracy: number;
  /** SSR: mean λ_max over the epoch's examples. */
  lambdaMax?: number;
  /** Madry: the radius ε of the epoch's last step (below the target during an ε warm-up). */
  epsilon?: number;
  seconds: number;
  steps: number;
  lr: number;
}

export interface TrainResult {
  history: EpochRecord[];
  seed: number;
  steps: number;
  backend: string;
}

type CheckedReg =
  | { kind: 'none' }
  | { kind: 'ssr'; alpha: number; scale: number; iterations: number }
  | { kind: 'madry'; epsilon: number; step: number; iterations: number; randomStart: boolean; epsilonWarmup: number };

/**
 * Madry's radius and step at a training step (0-based) under a linear warm-up over `warmup` epochs of
 * `stepsPerEpoch` steps: both scaled by min(1, (step + 1) / (warmup · stepsPerEpoch)), so the first step
 * already attacks (ε / (W·S)) and the step of index W·S − 1 reaches the full ε. The step size keeps its
 * ratio to ε (PGD's reach in `iterations` steps stays the same fraction of the box).
 */
export function madryEpsilon(
  reg: { epsilon: number; step: number; epsilonWarmup: number },
  step: number,
  stepsPerEpoch: number,
): { epsilon: number; step: number } {
  const f = reg.epsilonWarmup > 0 ? Math.min(1, (step + 1) / (reg.epsilonWarmup * stepsPerEpoch)) : 1;
  return { epsilon: reg.epsilon * f, step: reg.step * f };
}

function checkRegularizer(r: unknown): CheckedReg {
  if (r === undefined) return { kind: 'none' };
  if (r === null || typeof r !== 'object')
    fail(
      'INVALID_ARGUMENT',
      `train: regularizer must be { kind: 'none' | 'ssr' | 'madry', ... }, got ${JSON.stringify(r)}`,
    );
  const o = r as Record<string, unknown>;
  const allowed =
    o.kind === 'none'
      ? ['kind']
      : o.kind === 'ssr'
        ? ['kind', 'alpha', 'scale', 'iterations']
        : o.kind === 'madry'
          ? ['kind', 'epsilon', 'step', 'iterations', 'randomStart', 'epsilonWarmup']
          : null;
  if (!allowed)
    fail('INVALID_ARGUMENT', `train: regularizer.kind must be 'none', 'ssr' or 'madry', got ${JSON.stringify(o.kind)}`);
  for (const k of Object.keys(o))
    if (!allowed.includes(k))
      fail(
        'INVALID_ARGUMENT',
        `train: unknown regularizer option '${k}' for ${o.kind}; allowed: ${allowed.join(', ')}`,
      );
  const num = (k: string, def: number | undefined, ok: (v: number) => boolean, what: string) => {
    const v = o[k] ?? def;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))
      fail('INVALID_ARGUMENT', `train: regularizer.${k} (${o.kind}) must be ${what}, got ${JSON.stringify(o[k])}`);
    return v;
  };
  const int = (k: string, def: number) => num(k, def, (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1');
  if (o.kind === 'ssr') {
    return {
      kind: 'ssr',
      alpha: num('alpha', undefined, (v) => v >= 0 && v <= 1, 'a number in [0, 1]'),
      scale: num('scale', 1, (v) => v > 0, 'a number > 0'),
      iterations: int('iterations', 1),
    };
  }
  if (o.kind === 'madry') {
    const epsilon = num('epsilon', undefined, (v) => v > 0, 'a number > 0');
    if (o.randomStart !== undefined && typeof o.randomStart !== 'boolean')
      fail('INVALID_ARGUMENT', `train: regularizer.randomStart must be true or false`);
    return {
      kind: 'madry',
      epsilon,
      step: num('step', epsilon / 4, (v) => v > 0, 'a number > 0'),
      iterations: int('iterations', 7),
      randomStart: o.randomStart !== false,
      epsilonWarmup: num('epsilonWarmup', 0, (v) => v >= 0, 'a number of epochs >= 0'),
    };
  }
  return { kind: 'none' };
}

function checkData(model: Model, data: Dataset): number {
  if (data === null || typeof data !== 'object')
    fail('INVALID_ARGUMENT', 'train: data must be { x: Tensor [N, ...input], labels: number[] } (as loadMnist gives)');
  checkTensor('train: data.x', data.x, [-1, ...model.inputShape]);
  const N = data.x.shape[0];
  if (!Array.isArray(data.labels) || data.labels.length !== N)
    fail(
      'INVALID_ARGUMENT',
      `train: data.labels must hold ${N} class indices, got ${Array.isArray(data.labels) ? data.labels.length : typeof data.labels}`,
    );
  data.labels.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || c >= model.classes)
      fail(
        'INVALID_ARGUMENT',
        `train: data.labels[${i}] = ${JSON.stringify(c)} is not a class in [0, ${model.classes - 1}]`,
      );
  });
  if (data.ids !== undefined && (!Array.isArray(data.ids) || data.ids.length !== N))
    fail('INVALID_ARGUMENT', `train: data.ids must hold ${N} example ids when given`);
  return N;
}

/**
 * Minibatch training on the model's backend. Every step is recorded as kernels (forward/backward sweeps,
 * SSR's power iteration and backward2, PGD steps, the optimiser update in place on the device weights);
 * only the running loss is read back every `reportEvery` steps. The model's weights are replaced by the
 * trained ones at the end. Deterministic given the seed on a given backend.
 */
export async function train(model: Model, data: Dataset, options: TrainOptions = {}): Promise<TrainResult> {
  if (options === null || typeof options !== 'object') fail('INVALID_ARGUMENT', 'train: options must be an object');
  const allowed = [
    'epochs',
    'batchSize',
    'optimizer',
    'schedule',
    'regularizer',
    'seed',
    'progress',
    'reportEvery',
    'maxSteps',
    'range',
    'onEpoch',
    'augment',
  ];
  for (const k of Object.keys(options))
    if (!allowed.includes(k)) fail('INVALID_ARGUMENT', `train: unknown option '${k}'; allowed: ${allowed.join(', ')}`);
  const N = checkData(model, data);
  const int = (k: 'epochs' | 'batchSize' | 'reportEvery' | 'maxSteps', def: number) => {
    const v = options[k] ?? def;
    if (!Number.isInteger(v) || v < 1)
      fail('INVALID_ARGUMENT', `train: ${k} must be an integer >= 1, got ${JSON.stringify(options[k])}`);
    return v;
  };
  const epochs = int('epochs', 1),
    batchSize = Math.min(int('batchSize', 64), N),
    reportEvery = int('reportEvery', 20);
  const maxSteps = int('maxSteps', Number.MAX_SAFE_INTEGER);
  const opt = checkOptimizer(options.optimizer),
    schedule = checkSchedule(options.schedule),
    reg = checkRegularizer(options.regularizer);
  const augment = checkAugment(options.augment, 'train');
  if (augment && model.inputShape.length !== 3)
    fail(
      'INVALID_ARGUMENT',
      `train: augment.shift translates images [C, H, W]; this model takes [${model.inputShape.join(', ')}] inputs`,
    );
  const seed = resolveSeed(options.seed);
  const [lo, hi] = options.range ?? [0, 1];
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi))
    fail('INVALID_ARGUMENT', `train: range must be [lo, hi] with lo < hi, got ${JSON.stringify(options.range)}`);
  const ids = data.ids ?? data.labels.map((_, i) => i);
  const d = sizeOf(model.inputShape);
  const stepsPerEpoch = Math.floor(N / batchSize); // the last partial batch is dropped: every step has the same shape
  const totalSteps = Math.min(epochs * stepsPerEpoch, maxSteps);
  const history: EpochRecord[] = [];
  const showProgress = options.progress ?? (typeof process !== 'undefined' && !!process.stderr?.isTTY);
  const bar: ProgressReporter = await progressReporter(showProgress, stepsPerEpoch);

  let step = 0;
  let stepReg = reg; // Madry's ε of the current step (the warm-up scales it)
  await model.withDevice(async (be, params) => {
    const optimizer = new DeviceOptimizer(be, opt, params);
    // SSR's warm starts: one unit vector per training example, [N, d], updated after every visit.
    const eigenvectors =
      reg.kind === 'ssr' ? be.upload(ssrStartVectors(seed, ids, 0, d), [N, d], 'ssr eigenvector store') : null;
    let stats = be.upload(new Float32Array(4), [4], 'training metrics');
    try {
      for (let epoch = 0; epoch < epochs && step < totalSteps; epoch++) {
        const t0 = performance.now();
        const order = permutation(N, seed, DATA_STREAM.epoch, epoch);
        let lr = opt.lr,
          done = 0,
          last = [0, 0, 0, 0];
        bar.start(epoch, epochs);
        for (let s = 0; s < stepsPerEpoch && step < totalSteps; s++, step++) {
          const rows = order.slice(s * batchSize, (s + 1) * batchSize);
          lr = scheduledLr(opt.lr, schedule, epoch, step, totalSteps);
          if (reg.kind === 'madry') stepReg = { ...reg, ...madryEpsilon(reg, step, stepsPerEpoch) };
          trainStep(
            be,
            model.graph,
            params,
            optimizer,
            stats,
            eigenvectors,
            data,
            rows,
            ids,
            d,
            stepReg,
            seed,
            epoch,
            lr,
            [lo, hi],
            augment,
          );
          done++;
          if (done % reportEvery === 0 || s === stepsPerEpoch - 1 || step === totalSteps - 1) {
            last = Array.from((await be.read([stats]))[0]);
            bar.update(done, last[0] / last[2], last[1] / last[2], reg.kind === 'ssr' ? last[3] / last[2] : undefined);
          }
        }
        const rec: EpochRecord = {
          epoch,
          loss: last[0] / last[2],
          accuracy: last[1] / last[2],
          seconds: (performance.now() - t0) / 1000,
          steps: done,
          lr,
        };
        if (reg.kind === 'ssr') rec.lambdaMax = last[3] / last[2];
        if (stepReg.kind === 'madry') rec.epsilon = stepReg.epsilon;
        bar.stop(rec);
        history.push(rec);
        options.onEpoch?.(rec);
        // The next epoch's sums start from zero in a fresh buffer.
        be.release(stats);
        stats = be.upload(new Float32Array(4), [4], 'training metrics');
      }
      const names = [...params.keys()];
      const out = await be.read(names.map((n) => params.get(n)!));
      model.setWeights(
        Object.fromEntries(
          names.map((n, i) => [n, { shape: [...params.get(n)!.shape], data: Float32Array.from(out[i]) }]),
        ),
      );
    } finally {
      optimizer.release();
      be.release(stats, eigenvectors);
    }
  });
  return { history, seed, steps: step, backend: model.engine.backend };
}

/** Records one training step: the loss's parameter gradients, then the optimiser update in place. */
function trainStep(
  be: Backend,
  graph: Graph,
  params: ReadonlyMap<string, BTensor>,
  optimizer: DeviceOptimizer,
  stats: BTensor,
  eigenvectors: BTensor | null,
  data: Dataset,
  rows: number[],
  ids: readonly number[],
  d: number,
  reg: CheckedReg,
  seed: number,
  epoch: number,
  lr: number,
  range: [number, number],
  augment: AugmentOptions | null,
): void {
  const B = rows.length;
  const xData = new Float32Array(B * d);
  const batchIds = rows.map((r) => ids[r]);
  rows.forEach((r, i) => {
    const src = data.x.data.subarray(r * d, (r + 1) * d);
    if (!augment) return xData.set(src, i * d);
    const [C, H, W] = data.x.shape.slice(1);
    const [dx, dy] = shiftAt(seed, batchIds[i], epoch, augment.shift);
    shiftImage(src, xData.subarray(i * d, (i + 1) * d), C, H, W, dx, dy);
  });
  const x = be.upload(xData, [B, ...data.x.shape.slice(1)], 'training batch');
  const classes = be.uploadIndices(
    rows.map((r) => data.labels[r]),
    [B],
    'training labels',
  );
  const toRelease: (BTensor | null)[] = [x, classes];
  const releasers: (() => void)[] = [];
  try {
    if (reg.kind === 'ssr') {
      // Power iteration from the warm starts, then one backward2 sweep whose parameter tangents are the whole
      // gradient of (1 − α)·CE + α·s·mean λ (the cross-entropy seed rides on the tangent stream).
      const index = be.uploadIndices(rows, [B], 'ssr store rows');
      const w0 = be.train.gatherRows(eigenvectors!, index, d);
      // The forward of x is computed once, by the first Gauss–Newton product, and read by the later sweeps.
      const shared: { primal: PrimalCache | null } = { primal: null };
      releasers.push(() => shared.primal?.release());
      const w = recordPowerIteration(be, graph, params, x, classes, w0, reg.iterations, shared);
      toRelease.push(index, w0, w);
      const s = recordSsrGradient(
        be,
        graph,
        params,
        x,
        w,
        (reg.alpha * reg.scale) / B,
        { classes, scale: (1 - reg.alpha) / B },
        shared.primal,
      );
      releasers.unshift(() => s.release());
      be.train.scatterRows(eigenvectors!, index, w, d);
      be.train.accumulateMetrics(s.logits, classes, s.lambda, stats);
      optimizer.step(params, (name) => [{ grad: s.grads.get(name)!, scale: 1 }], lr);
      return;
    }
    // The point the cross-entropy is taken at: x, or Madry's PGD adversary.
    let xLoss = x;
    if (reg.kind === 'madry') {
      let xadv = x;
      if (reg.randomStart) {
        const start = boxStart(seed, DATA_STREAM.madryStart, batchIds, epoch, xData, d, reg.epsilon, range);
        xadv = be.upload(start, x.shape, 'madry start');
        toRelease.push(xadv);
      }
      for (let k = 0; k < reg.iterations; k++) {
        const r = sweep(be, graph, {
          x: xadv,
          params,
          head: { kind: 'crossEntropy', classes, scale: 1 },
          inputGrad: true,
        });
        const next = be.train.pgdStep(xadv, x, r.inputGrad!, reg.epsilon, reg.step, range[0], range[1]);
        r.release();
        toRelease.push(next);
        xadv = next;
      }
      xLoss = xadv;
    }
    const ce = sweep(be, graph, {
      x: xLoss,
      params,
      head: { kind: 'crossEntropy', classes, scale: 1 / B },
      paramGrads: true,
    });
    releasers.push(() => ce.release());
    be.train.accumulateMetrics(ce.logits, classes, null, stats);
    optimizer.step(params, (name) => [{ grad: ce.paramGrads.get(name)!.grad!, scale: 1 }], lr);
  } finally {
    for (const f of releasers) f();
    be.release(...toRelease);
  }
}
