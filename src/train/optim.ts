import type { Backend, BTensor, GradTerm } from '../backend/backend.js';
import { fail } from '../errors.js';

export type OptimizerOptions =
  | { kind: 'sgd'; lr: number; momentum?: number; weightDecay?: number; nesterov?: boolean }
  | { kind: 'adam'; lr?: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number };

export type ScheduleOptions =
  { kind: 'constant' } | { kind: 'step'; everyEpochs: number; gamma?: number } | { kind: 'cosine'; minLr?: number };

const num = (where: string, v: unknown, def: number, lo: number, hi: number, loOpen = false): number => {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || (loOpen ? v <= lo : v < lo) || v > hi) {
    fail(
      'INVALID_ARGUMENT',
      `${where} must be a number in ${loOpen ? '(' : '['}${lo}, ${hi}], got ${JSON.stringify(v)}`,
    );
  }
  return v;
};

export type CheckedOptimizer =
  | { kind: 'sgd'; lr: number; momentum: number; weightDecay: number; nesterov: boolean }
  | { kind: 'adam'; lr: number; beta1: number; beta2: number; eps: number; weightDecay: number };

export function checkOptimizer(o: unknown): CheckedOptimizer {
  if (o === undefined) return { kind: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
  if (o === null || typeof o !== 'object')
    fail('INVALID_ARGUMENT', `train: optimizer must be { kind: 'sgd' | 'adam', ... }, got ${JSON.stringify(o)}`);
  const r = o as Record<string, unknown>;
  const allowed =
    r.kind === 'sgd'
      ? ['kind', 'lr', 'momentum', 'weightDecay', 'nesterov']
      : r.kind === 'adam'
        ? ['kind', 'lr', 'beta1', 'beta2', 'eps', 'weightDecay']
        : null;
  if (!allowed)
    fail('INVALID_ARGUMENT', `train: optimizer.kind must be 'sgd' or 'adam', got ${JSON.stringify(r.kind)}`);
  for (const k of Object.keys(r))
    if (!allowed.includes(k))
      fail('INVALID_ARGUMENT', `train: unknown optimizer option '${k}' for ${r.kind}; allowed: ${allowed.join(', ')}`);
  const weightDecay = num('train: optimizer.weightDecay', r.weightDecay, 0, 0, 1);
  if (r.kind === 'sgd') {
    if (r.lr === undefined) fail('INVALID_ARGUMENT', `train: optimizer { kind: 'sgd' } needs lr (a number > 0)`);
    if (r.nesterov !== undefined && typeof r.nesterov !== 'boolean')
      fail('INVALID_ARGUMENT', `train: optimizer.nesterov must be true or false, got ${JSON.stringify(r.nesterov)}`);
    return {
      kind: 'sgd',
      lr: num('train: optimizer.lr', r.lr, 0, 0, 10, true),
      momentum: num('train: optimizer.momentum', r.momentum, 0.9, 0, 0.999999),
      weightDecay,
      nesterov: !!r.nesterov,
    };
  }
  return {
    kind: 'adam',
    lr: num('train: optimizer.lr', r.lr, 1e-3, 0, 10, true),
    beta1: num('train: optimizer.beta1', r.beta1, 0.9, 0, 0.999999),
    beta2: num('train: optimizer.beta2', r.beta2, 0.999, 0, 0.99999999),
    eps: num('train: optimizer.eps', r.eps, 1e-8, 0, 1, true),
    weightDecay,
  };
}

export type CheckedSchedule =
  { kind: 'constant' } | { kind: 'step'; everyEpochs: number; gamma: number } | { kind: 'cosine'; minLr: number };

export function checkSchedule(s: unknown): CheckedSchedule {
  if (s === undefined) return { kind: 'constant' };
  if (s === null || typeof s !== 'object')
    fail(
      'INVALID_ARGUMENT',
      `train: schedule must be { kind: 'constant' | 'step' | 'cosine', ... }, got ${JSON.stringify(s)}`,
    );
  const r = s as Record<string, unknown>;
  const allowed =
    r.kind === 'constant'
      ? ['kind']
      : r.kind === 'step'
        ? ['kind', 'everyEpochs', 'gamma']
        : r.kind === 'cosine'
          ? ['kind', 'minLr']
          : null;
  if (!allowed)
    fail(
      'INVALID_ARGUMENT',
      `train: schedule.kind must be 'constant', 'step' or 'cosine', got ${JSON.stringify(r.kind)}`,
    );
  for (const k of Object.keys(r))
    if (!allowed.includes(k))
      fail('INVALID_ARGUMENT', `train: unknown schedule option '${k}' for ${r.kind}; allowed: ${allowed.join(', ')}`);
  if (r.kind === 'step') {
    const every = r.everyEpochs;
    if (!Number.isInteger(every) || (every as number) < 1)
      fail('INVALID_ARGUMENT', `train: schedule.everyEpochs must be an integer >= 1, got ${JSON.stringify(every)}`);
    return {
      kind: 'step',
      everyEpochs: every as number,
      gamma: num('train: schedule.gamma', r.gamma, 0.1, 0, 1, true),
    };
  }
  if (r.kind === 'cosine') return { kind: 'cosine', minLr: num('train: schedule.minLr', r.minLr, 0, 0, 10) };
  return { kind: 'constant' };
}

/** The learning rate of step `step` (0-based) of `total`, in epoch `epoch` (0-based). Cosine anneals per step. */
export function scheduledLr(base: number, s: CheckedSchedule, epoch: number, step: number, total: number): number {
  if (s.kind === 'step') return base * s.gamma ** Math.floor(epoch / s.everyEpochs);
  if (s.kind === 'cosine')
    return s.minLr + (base - s.minLr) * 0.5 * (1 + Math.cos((Math.PI * step) / Math.max(1, total)));
  return base;
}

/** Optimiser state on the device (velocity, or Adam's two moments) and the step counter. */
export class DeviceOptimizer {
  private state = new Map<string, BTensor[]>();
  private t = 0;

  constructor(
    private readonly be: Backend,
    private readonly o: CheckedOptimizer,
    params: ReadonlyMap<string, BTensor>,
  ) {
    for (const [name, p] of params) {
      const n = o.kind === 'sgd' ? 1 : 2;
      this.state.set(
        name,
        Array.from({ length: n }, (_, i) =>
          be.upload(new Float32Array(p.size), p.shape, `${o.kind} state ${i} ${name}`),
        ),
      );
    }
  }

  /** Records one step on every parameter with the learning rate `lr`; grads: name → its gradient terms. */
  step(params: ReadonlyMap<string, BTensor>, grads: (name: string) => GradTerm[], lr: number): void {
    this.t++;
    for (const [name, p] of params) {
      const s = this.state.get(name)!;
      if (this.o.kind === 'sgd')
        this.be.train.sgd(p, s[0], grads(name), {
          lr,
          momentum: this.o.momentum,
          weightDecay: this.o.weightDecay,
          nesterov: this.o.nesterov,
        });
      else
        this.be.train.adam(p, s[0], s[1], grads(name), {
          lr,
          beta1: this.o.beta1,
          beta2: this.o.beta2,
          eps: this.o.eps,
          weightDecay: this.o.weightDecay,
          step: this.t,
        });
    }
  }

  release(): void {
    for (const s of this.state.values()) this.be.release(...s);
    this.state.clear();
  }
}
