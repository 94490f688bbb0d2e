import type { Backend, BTensor, NoiseKind, SamplePlan } from '../backend/backend.js';
import { fail } from '../errors.js';
import { checkWork } from '../limits.js';
import { checkpoint, throwIfAborted } from '../validate.js';
import { allFinite, checkFiniteFlag, type Model } from '../graph/model.js';
import { STAGE_REDUCE, sweep } from '../graph/sweep.js';
import { sweepPeakBytes } from '../graph/memory.js';
import { seedKey } from '../noise/philox.js';
import { sizeOf, type Tensor } from '../tensor.js';

// The one engine behind every gradient attribution method. A sample plan says how sample q of example b
// is made (noise n = ⌊q/S⌋, path point s = q mod S); samples run in chunks that fit a memory budget, each
// chunk as one batched sweep over B·len inputs generated on the device; gradients are folded into running
// statistics on the device; the call ends in one readback.

export type Statistic = 'mean' | 'meanSquare' | 'variance';

export interface SamplingRequest {
  x: Tensor;
  target: number[];
  output: 'logit' | 'probability';
  noise: NoiseKind;
  noiseSamples: number; // N
  scales?: number[]; // σ or r per example
  given?: Tensor; // [N, …x.shape[1:]]
  path?: { alphas: number[]; weights: number[]; baseline: Float32Array | null }; // IG; default one point at α = 1
  multiply: boolean;
  absolute: boolean;
  statistic: Statistic;
  seed: number;
  exampleIds: number[];
  batchSize?: number; // samples per example per chunk
  maxBytes?: number; // memory budget for one chunk's activations
  /** Also return f(x) and f(baseline) per example (IG's completeness). */
  endpointValues?: boolean;
  /**
   * A direction t [B, d] per example: also fold Σ_s w_s α_s H(sample)·t, averaged over noise samples —
   * the Hessian half of the vector-Jacobian product of the map (the attack gradient). Each sample's
   * tangent is α_s·t, since sample = baseline + α_s(x + ε − baseline).
   */
  tangent?: Float32Array;
  /** Checked before the call and after every chunk; with a signal each chunk is its own submission. */
  signal?: AbortSignal;
}

export interface SamplingResult {
  attributions: Tensor;
  /** With a tangent: mean over noise samples of Σ_s w_s α_s H_s·t, shape of x. */
  hessianTangent?: Tensor;
  chunkSize: number;
  chunks: number;
  endpoints?: { atX: number[]; atBaseline: number[] };
}

/**
 * chunkLength's answers per backend and graph: the liveness walk costs ~60 µs, 1–2% of a SmoothGrad-50 call on
 * LeNet, and a caller explaining image after image asks the same question. A graph never changes, nor do a
 * backend's allocation sizes and GEMM splits within one device generation (kernel overrides keep the splits).
 */
const chunkLengths = new WeakMap<Backend, WeakMap<Model['graph'], Map<string, number>>>();

/**
 * The most samples per example a chunk may hold within the budget: the largest length whose sweep peak
 * (src/graph/memory.ts: the graph's liveness, each tensor in the backend's allocation size) plus what the
 * call holds throughout fits `maxBytes`; at least 1.
 */
function chunkLength(model: Model, be: Backend, r: SamplingRequest, B: number, d: number, Q: number): number {
  const budget = r.maxBytes ?? be.chunkBytes;
  let byGraph = chunkLengths.get(be);
  if (!byGraph) chunkLengths.set(be, (byGraph = new WeakMap()));
  let known = byGraph.get(model.graph);
  if (!known) byGraph.set(model.graph, (known = new Map()));
  const key = `${be.generation} ${B} ${d} ${Q} ${!!r.tangent} ${budget}`;
  let len = known.get(key);
  if (len === undefined) {
    if (known.size >= 256) known.clear(); // a caller sweeping batch sizes or budgets: start over
    known.set(key, (len = searchChunkLength(model, be, r, B, d, Q, budget)));
  }
  return len;
}

function searchChunkLength(
  model: Model,
  be: Backend,
  r: SamplingRequest,
  B: number,
  d: number,
  Q: number,
  budget: number,
): number {
  const bufferBytes = (b: number) => be.bufferBytes?.(b) ?? b;
  const gemmScratchBytes = (M: number, N: number, K: number) => be.gemmScratchBytes?.(M, N, K) ?? 0;
  // Held by the whole call: the running statistics, x (and its tangent), the plan's small tables, and the
  // staging buffer the result is read back through.
  const t = r.tangent ? 2 : 1;
  const call = t * (bufferBytes(4 * 3 * B * d) + 2 * bufferBytes(4 * B * d)) + 3 * bufferBytes(4 * (B + 2 * Q));
  const fits = (len: number) =>
    call + sweepPeakBytes(model.graph, { tangent: !!r.tangent, rows: B * len, bufferBytes, gemmScratchBytes }) <=
    budget;
  if (fits(Q)) return Q;
  // fits(1) may be false (a budget below one sample): one sample per chunk is still the least a chunk holds.
  let lo = 1,
    hi = Q;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

export async function runSampling(model: Model, r: SamplingRequest): Promise<SamplingResult> {
  const out = await samplingPass(model, r, false);
  const values = [
    out.attributions.data,
    out.hessianTangent?.data ?? [],
    out.endpoints?.atX ?? [],
    out.endpoints?.atBaseline ?? [],
  ];
  if (values.every(allFinite)) return out;
  // A non-finite result: the same call (same seed, same samples) again with every tensor checked on the
  // device, which names the layer and pass where Infinity or NaN first appeared. Only failing calls pay.
  await samplingPass(model, r, true);
  return fail(
    'NON_FINITE',
    'the result is not finite (Infinity or NaN) although every intermediate was: it overflowed float32 when it was read back',
  );
}

async function samplingPass(model: Model, r: SamplingRequest, locate: boolean): Promise<SamplingResult> {
  const B = r.x.shape[0],
    d = r.x.data.length / B;
  const S = r.path?.alphas.length ?? 1,
    N = r.noiseSamples,
    Q = N * S;
  const largest = Math.max(sizeOf(model.graph.inputShape), ...model.graph.ops.map((o) => sizeOf(o.outShape)));
  checkWork(
    'gradientEvaluations',
    B * Q * (r.tangent ? 2 : 1),
    'the gradient evaluations of this call (examples × samples × path steps)',
    'use fewer samples, steps or examples',
  );
  throwIfAborted(r.signal, 'the attribution call');

  return model.withDevice(async (be, params) => {
    let len: number;
    if (r.batchSize !== undefined) len = Math.min(r.batchSize, Q);
    else len = chunkLength(model, be, r, B, d, Q);
    // No single activation may outgrow what one buffer holds.
    const fits = Math.floor(be.maxTensorBytes / (4 * B * largest));
    if (fits < 1)
      fail(
        'LIMIT_EXCEEDED',
        `a batch of ${B} examples does not fit one ${be.maxTensorBytes}-byte buffer even at one sample each; use fewer examples`,
      );
    len = Math.min(len, fits);

    const uploads: BTensor[] = [];
    const up = (data: ArrayLike<number>, shape: number[], label: string, indices = false) => {
      const t = indices ? be.uploadIndices(data, shape, label) : be.upload(data, shape, label);
      uploads.push(t);
      return t;
    };
    const xT = up(r.x.data, r.x.shape, 'x');
    const alphas = r.path?.alphas ?? [1],
      weights = r.path?.weights ?? [1];
    const plan: SamplePlan = {
      noise: r.noise,
      key: seedKey(r.seed),
      exampleIds: up(r.exampleIds, [B], 'example ids', true),
      params: up(
        [...(r.scales ?? new Array(B).fill(0)), ...alphas, ...weights],
        [B + 2 * S],
        'plan scales, alphas, weights',
      ),
      given: r.given ? up(r.given.data, [N, d], 'given noise') : null,
      noiseSamples: N,
      steps: S,
      baseline: r.path?.baseline ? up(r.path.baseline, [B, d], 'baseline') : null,
      multiply: r.multiply,
      absolute: r.absolute,
    };
    const stats = up(new Float32Array(3 * B * d), [3, B, d], 'attribution statistics');
    // The tangent stream: sample inputs of t with no noise and no baseline are α_s·t; folded without multiplier.
    const tangentPlan: SamplePlan | null = r.tangent
      ? { ...plan, noise: 'none', baseline: null, multiply: false, absolute: false }
      : null;
    const tT = r.tangent ? up(r.tangent, r.x.shape, 'map cotangent direction') : null;
    const tStats = r.tangent ? up(new Float32Array(3 * B * d), [3, B, d], 'Hessian-tangent statistics') : null;
    const ball = r.noise === 'ball' ? be.ballFactors(plan, d) : null;
    const head = r.output === 'probability' ? ('probability' as const) : ('logit' as const);
    const classesFor = new Map<number, BTensor>();
    const classes = (n: number) => {
      if (!classesFor.has(n))
        classesFor.set(
          n,
          up(
            r.target.flatMap((t) => new Array(n).fill(t)),
            [B * n],
            'sample targets',
            true,
          ),
        );
      return classesFor.get(n)!;
    };

    const finite = locate ? up([0], [1], 'non-finite flag', true) : null;
    let chunks = 0,
      done = 0;
    let ends: ReturnType<typeof sweep> | null = null;
    try {
      for (let q0 = 0; q0 < Q; q0 += len) {
        const n = Math.min(len, Q - q0);
        const inputs = be.sampleInputs(plan, xT, q0, n, ball);
        const tangents = tangentPlan ? be.sampleInputs(tangentPlan, tT!, q0, n, null) : null;
        const res = sweep(be, model.graph, {
          x: inputs,
          xdot: tangents,
          params,
          head: { kind: head, classes: classes(n), scale: 1 },
          inputGrad: true,
          finite,
        });
        be.sampleReduce(plan, xT, res.inputGrad!, q0, n, ball, stats, done);
        if (tangentPlan) be.sampleReduce(tangentPlan, tT!, res.inputGradDot!, q0, n, null, tStats!, done);
        res.release();
        be.release(inputs, tangents);
        done = Math.floor((q0 + n) / S);
        chunks++;
        if (r.signal && q0 + n < Q) {
          // Abortable: run this chunk now (reading back the few example ids is the wait) and look at the signal.
          await be.read([plan.exampleIds]);
          await checkpoint(r.signal, `the attribution call (after ${done} of ${N} samples)`);
        }
      }

      // IG completeness: f(x) and f(baseline) in the same submission.
      if (r.endpointValues) {
        const both = new Float32Array(2 * B * d);
        both.set(r.x.data);
        if (r.path?.baseline) both.set(r.path.baseline, B * d);
        ends = sweep(be, model.graph, {
          x: up(both, [2 * B, ...r.x.shape.slice(1)], 'x and baseline'),
          params,
          head: { kind: head, classes: up([...r.target, ...r.target], [2 * B], 'targets', true), scale: 1 },
          finite,
        });
      }
      if (finite) be.checkFinite(stats, finite, STAGE_REDUCE);
      if (finite && tStats) be.checkFinite(tStats, finite, STAGE_REDUCE);

      const got = await be.read([
        stats,
        ...(tStats ? [tStats] : []),
        ...(ends ? [ends.value!] : []),
        ...(finite ? [finite] : []),
      ]);
      if (finite) checkFiniteFlag(model.graph, got.pop()!);
      const mean = got[0].subarray(B * d, 2 * B * d),
        m2 = got[0].subarray(2 * B * d);
      const out = new Float32Array(B * d);
      for (let i = 0; i < out.length; i++) {
        out[i] =
          r.statistic === 'mean' ? mean[i] : r.statistic === 'variance' ? m2[i] / N : mean[i] * mean[i] + m2[i] / N;
      }
      const result: SamplingResult = { attributions: { shape: [...r.x.shape], data: out }, chunkSize: len, chunks };
      if (tStats)
        result.hessianTangent = { shape: [...r.x.shape], data: Float32Array.from(got[1].subarray(B * d, 2 * B * d)) };
      if (ends) {
        const v = Array.from(got[got.length - 1]);
        result.endpoints = { atX: v.slice(0, B), atBaseline: v.slice(B) };
      }
      return result;
    } finally {
      ends?.release();
      be.release(ball, ...uploads);
    }
  });
}
