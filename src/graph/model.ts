import type { Backend, BTensor, HeadKind } from '../backend/backend.js';
import { Engine } from '../engine.js';
import { fail } from '../errors.js';
import { parseSafetensors, type SafetensorsOptions } from '../io/safetensors.js';
import { checkTensor, listStr, shapeStr, type Tensor } from '../tensor.js';
import { checkClasses, checkObjective, type Objective } from './objective.js';
import { options as validateOptions, show } from '../validate.js';
import { buildGraph, type Graph } from './spec.js';
import { stageName, sweep, type SweepRequest, type SweepResult } from './sweep.js';

export type ParamRecord = Record<string, Tensor>;

interface RunOptions {
  objective?: Objective;
  head?: HeadKind;
  classes?: number[];
  inputGrad?: boolean;
  paramGrads?: boolean;
  mean?: boolean;
  xdot?: Tensor;
  paramDot?: ParamRecord;
  cotangent?: Tensor;
}

/** Whether every value is finite: a plain loop (Array.prototype.every over a typed array costs ~50 ns a value). */
export function allFinite(d: ArrayLike<number>): boolean {
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return false;
  return true;
}

export interface LoadOptions extends SafetensorsOptions {
  /** Prefix of the parameter tensors in the file (the oracle stores them under 'param.'); others are ignored. */
  prefix?: string;
}

/**
 * Loads a model from its JSON spec and safetensors weights (PyTorch names and layouts). Every parameter the
 * spec implies must be in the file under the prefix with its exact shape, and nothing else may be there.
 */
export async function loadModel(
  engine: Engine,
  spec: unknown,
  weights: Uint8Array | ArrayBuffer,
  options: LoadOptions = {},
): Promise<Model> {
  if (!(engine instanceof Engine))
    fail('INVALID_ARGUMENT', `loadModel: engine must be an Engine from createEngine(), got ${show(engine)}`);
  const o = validateOptions('loadModel', options, ['prefix', 'maxHeaderBytes', 'maxEntries']);
  if (o.prefix !== undefined && typeof o.prefix !== 'string')
    fail('INVALID_ARGUMENT', `loadModel: prefix must be a string, got ${show(o.prefix)}`);
  const graph = buildGraph(spec);
  if (weights === null || weights === undefined)
    fail(
      'INVALID_ARGUMENT',
      `loadModel: weights must be the safetensors bytes (Uint8Array or ArrayBuffer), got ${show(weights)}`,
    );
  const { tensors } = parseSafetensors(weights, {
    maxHeaderBytes: o.maxHeaderBytes as number | undefined,
    maxEntries: o.maxEntries as number | undefined,
  });
  const prefix = (o.prefix as string | undefined) ?? '';
  const params = new Map<string, Tensor>();
  for (const [name, t] of tensors) if (name.startsWith(prefix)) params.set(name.slice(prefix.length), t);
  return new Model(engine, graph, params);
}

/** A model bound to an engine. Each call validates its input, runs one sweep over the whole batch and reads back once. */
export class Model {
  readonly graph: Graph;
  private weights: ReadonlyMap<string, Tensor>;
  private device: { backend: Backend; generation: number; params: Map<string, BTensor> } | null = null;

  constructor(
    readonly engine: Engine,
    graph: Graph,
    weights: ReadonlyMap<string, Tensor>,
  ) {
    this.graph = graph;
    const needed = new Map([...graph.params, ...(graph.buffers ?? [])]);
    for (const [name, shape] of needed) {
      const t = weights.get(name);
      if (!t)
        fail('INVALID_SPEC', `weights are missing tensor '${name}' (shape ${shapeStr(shape)}) that the spec needs`);
      if (shapeStr(t.shape) !== shapeStr(shape)) {
        fail('INVALID_SPEC', `weight '${name}' has shape ${shapeStr(t.shape)} but the spec needs ${shapeStr(shape)}`);
      }
      checkTensor(`weight '${name}'`, t, shape);
    }
    const extra = [...weights.keys()].filter((k) => !needed.has(k));
    if (extra.length) {
      fail(
        'INVALID_SPEC',
        `weights hold ${extra.length} tensor(s) the spec does not use: ${listStr(extra)}; expected exactly: ${listStr([...needed.keys()])}`,
      );
    }
    this.weights = new Map([...needed.keys()].map((k) => [k, weights.get(k)!]));
  }

  get inputShape(): number[] {
    return [...this.graph.inputShape];
  }
  get classes(): number {
    return this.graph.classes;
  }
  /** Parameter names (PyTorch, without prefix) and shapes. */
  get parameters(): Record<string, number[]> {
    return Object.fromEntries([...this.graph.params].map(([k, s]) => [k, [...s]]));
  }
  /** A copy of the weights. */
  getWeights(): ParamRecord {
    return Object.fromEntries([...this.weights].map(([k, t]) => [k, { shape: [...t.shape], data: t.data.slice() }]));
  }

  /**
   * Replaces every weight (training writes its result here). Validated like the constructor's; the device
   * copy is dropped and uploaded again from these float32 values on the next call.
   */
  setWeights(w: ParamRecord): void {
    // Batch-norm buffers (running statistics) are not trained: they may come along (getWeights gives them)
    // and then replace the current ones, else the current ones stay.
    const buffers = this.graph.buffers ?? new Map<string, readonly number[]>();
    const isRecord = w !== null && typeof w === 'object' && !Array.isArray(w);
    const params = isRecord ? Object.fromEntries(Object.entries(w).filter(([k]) => !buffers.has(k))) : w;
    this.checkParamRecord('weights', params);
    const copy = (t: Tensor): Tensor => ({ shape: [...t.shape], data: Float32Array.from(t.data) });
    const next = new Map([...this.graph.params.keys()].map((k) => [k, copy(w[k])]));
    for (const [k, shape] of buffers) {
      if (Object.hasOwn(w, k)) checkTensor(`weights['${k}']`, w[k], shape);
      next.set(k, Object.hasOwn(w, k) ? copy(w[k]) : this.weights.get(k)!);
    }
    this.weights = next;
    if (this.device) this.device.backend.release(...this.device.params.values());
    this.device = null;
  }

  /** Logits [B, classes]. */
  async forward(x: Tensor): Promise<Tensor> {
    const [out] = await this.run(x, {}, (r) => [r.logits]);
    return { shape: [x.shape[0], this.classes], data: out };
  }

  /** Per-example objective values [B]. */
  async evaluate(x: Tensor, objective: Objective): Promise<number[]> {
    const [v] = await this.run(x, { objective }, (r) => [r.value!]);
    return Array.from(v);
  }

  /** ∂φ/∂x for each example's own objective: shape of x. */
  async inputGradient(x: Tensor, objective: Objective): Promise<Tensor> {
    const [g] = await this.run(x, { objective, inputGrad: true }, (r) => [r.inputGrad!]);
    return { shape: [...x.shape], data: g };
  }

  /** Gradient of the batch-mean objective with respect to every parameter. */
  async paramGradient(x: Tensor, objective: Objective): Promise<ParamRecord> {
    const names = [...this.graph.params.keys()];
    const out = await this.run(x, { objective, paramGrads: true, mean: true }, (r) =>
      names.map((n) => r.paramGrads.get(n)!.grad!),
    );
    return this.record(names, out);
  }

  /** Input Hessian of each example's objective times v (forward-over-reverse; no dense Hessian). */
  async inputHvp(x: Tensor, v: Tensor, objective: Objective): Promise<Tensor> {
    this.checkX(x);
    checkTensor('v', v, x.shape);
    const [hv] = await this.run(x, { objective, inputGrad: true, xdot: v }, (r) => [r.inputGradDot!]);
    return { shape: [...x.shape], data: hv };
  }

  /** Parameter Hessian of the batch-mean objective times the direction v (a record over every parameter). */
  async paramHvp(x: Tensor, v: ParamRecord, objective: Objective): Promise<ParamRecord> {
    this.checkX(x);
    const names = [...this.graph.params.keys()];
    this.checkParamRecord('v', v);
    const out = await this.run(x, { objective, paramGrads: true, mean: true, paramDot: v }, (r) =>
      names.map((n) => r.paramGrads.get(n)!.gradDot!),
    );
    return this.record(names, out);
  }

  /** Jᵀ (diag(p) − ppᵀ) J v per example, J the input Jacobian of the logits: the cross-entropy's Gauss–Newton product. */
  async gaussNewtonProduct(x: Tensor, v: Tensor, labels: number[]): Promise<Tensor> {
    this.checkX(x);
    checkTensor('v', v, x.shape);
    const B = x.shape[0];
    checkClasses('labels', labels, B, this.classes);
    const [gv] = await this.run(x, { head: 'gaussNewton', classes: labels, inputGrad: true, xdot: v }, (r) => [
      r.inputGrad!,
    ]);
    return { shape: [...x.shape], data: gv };
  }

  /**
   * @internal Runs `fn` with the call's backend and the weights on it: the entry point of engines that
   * record their own sweeps (the sampling engine of the attribution methods).
   */
  async withDevice<T>(fn: (be: Backend, params: ReadonlyMap<string, BTensor>) => Promise<T>): Promise<T> {
    const be = await this.engine.backendForCall();
    return fn(be, this.deviceParams(be));
  }

  /** Jᵀ c per example for a cotangent c [B, classes] on the logits (J the input Jacobian of the logits). */
  async logitsVjp(x: Tensor, cotangent: Tensor): Promise<Tensor> {
    this.checkX(x);
    checkTensor('cotangent', cotangent, [x.shape[0], this.classes]);
    const [g] = await this.run(x, { cotangent, inputGrad: true }, (r) => [r.inputGrad!]);
    return { shape: [...x.shape], data: g };
  }

  /** The backend tensors of the weights, uploaded once per device (again after a device loss). */
  private deviceParams(be: Backend): Map<string, BTensor> {
    const gen = this.engine.generation;
    if (!this.device || this.device.backend !== be || this.device.generation !== gen) {
      const params = new Map<string, BTensor>();
      for (const [k, t] of this.weights) params.set(k, be.upload(t.data, t.shape, `param ${k}`));
      this.device = { backend: be, generation: gen, params };
    }
    return this.device.params;
  }

  private checkX(x: unknown): void {
    checkTensor('x', x, [-1, ...this.graph.inputShape]);
  }

  private checkParamRecord(name: string, v: ParamRecord): void {
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      fail('INVALID_ARGUMENT', `${name} must be a record from parameter name to tensor`);
    for (const [k, shape] of this.graph.params) {
      if (!Object.hasOwn(v, k))
        fail(
          'INVALID_ARGUMENT',
          `${name} is missing parameter '${k}' (shape ${shapeStr(shape)}); give every parameter, zeros for none`,
        );
      checkTensor(`${name}['${k}']`, v[k], shape);
    }
    const extra = Object.keys(v).filter((k) => !this.graph.params.has(k));
    if (extra.length)
      fail(
        'INVALID_ARGUMENT',
        `${name} has unknown parameters: ${listStr(extra)}; expected: ${listStr([...this.graph.params.keys()])}`,
      );
  }

  private record(names: string[], data: Float32Array[]): ParamRecord {
    return Object.fromEntries(names.map((n, i) => [n, { shape: [...this.graph.params.get(n)!], data: data[i] }]));
  }

  private async run(x: Tensor, o: RunOptions, pick: (r: SweepResult) => BTensor[]): Promise<Float32Array[]> {
    this.checkX(x);
    const B = x.shape[0];
    // 'objective' in o, not its truthiness: a null objective is an error, never "no objective".
    const head =
      'objective' in o
        ? checkObjective(o.objective, B, this.classes)
        : o.head
          ? { kind: o.head, classes: o.classes! }
          : null;
    const be = await this.engine.backendForCall();
    const out = await this.sweepOnce(be, x, o, head, pick, false);
    if (out.every(allFinite)) return out;
    // A non-finite result: the same call again with every tensor checked on the device, which names the
    // layer and pass where Infinity or NaN first appeared. Only failing calls pay for those checks.
    await this.sweepOnce(be, x, o, head, pick, true);
    return fail(
      'NON_FINITE',
      'the result is not finite (Infinity or NaN) although every intermediate was: it overflowed float32 when it was read back',
    );
  }

  /** Uploads the call's inputs, records one sweep and reads `pick` back (with `locate`, checked for non-finite values). */
  private async sweepOnce(
    be: Backend,
    x: Tensor,
    o: RunOptions,
    head: { kind: HeadKind; classes: number[] } | null,
    pick: (r: SweepResult) => BTensor[],
    locate: boolean,
  ): Promise<Float32Array[]> {
    const B = x.shape[0];
    const params = this.deviceParams(be);
    const inputs: BTensor[] = [be.upload(x.data, x.shape, 'x')];
    const req: SweepRequest = { x: inputs[0], params, inputGrad: o.inputGrad, paramGrads: o.paramGrads };
    if (o.xdot) inputs.push((req.xdot = be.upload(o.xdot.data, o.xdot.shape, 'x tangent')));
    if (o.paramDot) {
      req.paramTangents = new Map(
        [...this.graph.params.keys()].map((k) => [
          k,
          be.upload(o.paramDot![k].data, o.paramDot![k].shape, `param tangent ${k}`),
        ]),
      );
      inputs.push(...req.paramTangents.values());
    }
    if (o.cotangent) inputs.push((req.cotangent = be.upload(o.cotangent.data, o.cotangent.shape, 'logit cotangent')));
    if (head) {
      const classes = be.uploadIndices(head.classes, [B], 'classes');
      inputs.push(classes);
      req.head = { kind: head.kind, classes, scale: o.mean ? 1 / B : 1 };
    }
    const finite = locate ? be.uploadIndices([0], [1], 'non-finite flag') : null;
    if (finite) inputs.push((req.finite = finite));
    let result: SweepResult | null = null;
    try {
      result = sweep(be, this.graph, req);
      const outs = pick(result);
      const data = await be.read(finite ? [...outs, finite] : outs);
      if (finite) checkFiniteFlag(this.graph, data.pop()!);
      return data.map((d) => (d instanceof Float32Array ? d : Float32Array.from(d)));
    } finally {
      result?.release();
      be.release(...inputs);
    }
  }
}

/**
 * The error for a call whose result would hold Infinity or NaN: finite but absurd weights (3e38) or layer
 * parameters (softplus β = 5e-324) overflow somewhere, and the flag says where it first happened.
 */
export function checkFiniteFlag(graph: Graph, read: Float32Array | Float64Array): void {
  // The flag is an i32: webgpu reads back its raw bits (as float32), cpu its value (as float64).
  const flag = read instanceof Float32Array ? new Int32Array(read.buffer, read.byteOffset, 1)[0] : read[0];
  if (flag !== 0) {
    fail(
      'NON_FINITE',
      `the result is not finite: Infinity or NaN first appeared in ${stageName(graph, flag)}; ` +
        "check the weights, the spec's layer parameters and the input scale (values must stay within float32 range)",
    );
  }
}
