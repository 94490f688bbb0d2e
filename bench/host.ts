// Host-side cost of recording work: how many dispatches each model call records, and how long the CPU spends
// recording them (encoding), measured apart from the wait for the GPU. Bundled on the fly by the bench
// scripts (it reaches into the WebGPU context, which the public API does not expose) and run against the
// sources, so the numbers are those of this checkout.
//
// Encoding time of a call = from the call's start to the moment it asks the context for its readback
// (GpuContext.read: the submit). That covers input uploads, the sweep's bookkeeping, every primitive's
// host work (pipeline lookup, uniforms, bind groups) and nothing of the GPU's execution.
import { GpuContext, type Dispatch } from '../src/backend/webgpu/context.js';
import type { Backend } from '../src/backend/backend.js';
import type { Engine } from '../src/engine.js';
import type { Model } from '../src/graph/model.js';
import { smoothGrad } from '../src/attribution/methods.js';
import type { Tensor } from '../src/tensor.js';

export { createEngine } from '../src/engine.js';
export { loadModel } from '../src/graph/model.js';
export { encodeSafetensors } from '../src/io/safetensors.js';

interface Probe {
  dispatches: number;
  callStart: number;
  encodeEnd: number;
  /** Threads (workgroups × workgroup size) of the largest and smallest dispatch of the call. */
  maxThreads: number;
  minThreads: number;
  /** Queue submits during the call (GpuContext submits every SUBMIT_EVERY dispatches and at the readback). */
  submits: number;
}
const probe: Probe = { dispatches: 0, callStart: 0, encodeEnd: 0, maxThreads: 0, minThreads: Infinity, submits: 0 };

// Count dispatches and stamp the submit, on every context (the prototype, so a device replaced after a loss is
// counted too). Installed once, when this module loads.
const proto = GpuContext.prototype as unknown as {
  dispatch: (...a: unknown[]) => unknown;
  read: (...a: unknown[]) => Promise<unknown>;
  submit: (...a: unknown[]) => unknown;
};
const origDispatch = proto.dispatch;
const origRead = proto.read;
const origSubmit = proto.submit;
proto.dispatch = function (this: unknown, ...a: unknown[]) {
  probe.dispatches++;
  const d = a[0] as Dispatch;
  const threads = d.workgroups[0] * d.workgroups[1] * d.workgroups[2] * d.program.workgroupSize;
  probe.maxThreads = Math.max(probe.maxThreads, threads);
  probe.minThreads = Math.min(probe.minThreads, threads);
  return origDispatch.apply(this, a);
};
proto.submit = function (this: unknown, ...a: unknown[]) {
  probe.submits++;
  return origSubmit.apply(this, a);
};
proto.read = function (this: unknown, ...a: unknown[]) {
  probe.encodeEnd = performance.now();
  return origRead.apply(this, a);
};

export interface CallCost {
  method: string;
  dispatches: number;
  /** Host µs spent recording one call (start → submit), best of the runs. */
  encodeUs: number;
  /** encodeUs / dispatches. */
  encodeUsPerDispatch: number;
  /** Median wall µs per call (encoding + GPU + readback). */
  wallUs: number;
  /** Threads of the call's largest and smallest dispatch, and its queue submits. */
  maxThreads: number;
  minThreads: number;
  submits: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
// Host costs are reported as the best of several runs: on a shared machine the other processes only ever add
// time, so the minimum is the stable estimate of what the code itself costs.
const best = (xs: number[]): number => Math.min(...xs);

/** Runs `fn` `warmup` times untimed (compiles pipelines), then `runs` times; one readback per call. */
export async function measureCall(method: string, fn: () => Promise<unknown>, warmup = 2, runs = 9): Promise<CallCost> {
  for (let i = 0; i < warmup; i++) await fn();
  const enc: number[] = [],
    wall: number[] = [];
  let dispatches = 0;
  for (let i = 0; i < runs; i++) {
    probe.dispatches = 0;
    probe.encodeEnd = 0;
    probe.maxThreads = 0;
    probe.minThreads = Infinity;
    probe.submits = 0;
    probe.callStart = performance.now();
    await fn();
    const end = performance.now();
    // A method may read back more than once (it should not): then the last submit ends the encoding.
    enc.push(probe.encodeEnd - probe.callStart);
    wall.push(end - probe.callStart);
    dispatches = probe.dispatches;
  }
  const encodeUs = best(enc) * 1000;
  return {
    method,
    dispatches,
    encodeUs,
    encodeUsPerDispatch: encodeUs / Math.max(1, dispatches),
    wallUs: median(wall) * 1000,
    maxThreads: probe.maxThreads,
    minThreads: probe.minThreads,
    submits: probe.submits,
  };
}

/** Every model method at one batch, and SmoothGrad with `samples` noise samples. */
export async function modelCosts(
  model: Model,
  x: Tensor,
  v: Tensor,
  target: number[],
  samples: number,
  runs = 9,
  only: string[] | null = null,
): Promise<CallCost[]> {
  const objective = { kind: 'logit' as const, target };
  const params = Object.fromEntries(
    [...(model as unknown as { graph: { params: Map<string, number[]> } }).graph.params].map(([k, shape]) => [
      k,
      { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.01) },
    ]),
  );
  const calls: [string, () => Promise<unknown>][] = [
    ['forward', () => model.forward(x)],
    ['inputGradient', () => model.inputGradient(x, objective)],
    ['inputHvp', () => model.inputHvp(x, v, objective)],
    ['paramGradient', () => model.paramGradient(x, objective)],
    ['paramHvp', () => model.paramHvp(x, params, objective)],
    ['gaussNewtonProduct', () => model.gaussNewtonProduct(x, v, target)],
    [`smoothGrad-${samples}`, () => smoothGrad(model, x, { target, sigma: 0.1, samples, seed: 1 })],
  ];
  const out: CallCost[] = [];
  for (const [name, fn] of calls)
    if (!only || only.some((o) => name.startsWith(o))) out.push(await measureCall(name, fn, 2, runs));
  return out;
}

export interface DispatchCost {
  kernel: string;
  /** Host µs to record one dispatch whose pipeline is cached (the primitive call, start to return), best block. */
  us: number;
  /** Of which in WebGPU calls (output buffer, bind group, error scopes, pass commands: Dawn's own host cost). */
  webgpuUs: number;
  /** The rest: smoothgeo's own JavaScript (kernel key, pipeline lookup, uniforms, bindings). */
  ownUs: number;
}

/** Time spent inside the device's and the compute pass's methods, summed (Dawn's host cost). */
const inWebGPU = { ms: 0 };
function timed<T extends object>(obj: T, names: string[]): void {
  for (const n of names) {
    const o = obj as Record<string, unknown>;
    const f = o[n] as (...a: unknown[]) => unknown;
    if (typeof f !== 'function') continue;
    o[n] = function (this: unknown, ...a: unknown[]) {
      const t0 = performance.now();
      try {
        const r = f.apply(obj, a);
        if (n === 'beginComputePass') timed(r as object, ['setPipeline', 'setBindGroup', 'dispatchWorkgroups']);
        if (n === 'createCommandEncoder') timed(r as object, ['beginComputePass']);
        return r;
      } finally {
        inWebGPU.ms += performance.now() - t0;
      }
    };
  }
}

/**
 * Host µs per cached dispatch of two representative primitives: a LeNet-like conv2d forward (the longest
 * shader text) and a pointwise activation (the shortest). `reps` dispatches are recorded back to back, timed
 * as a block, then submitted with nothing read back; the best of `repeats` blocks.
 */
export async function dispatchCosts(engine: Engine, reps = 200, repeats = 7): Promise<DispatchCost[]> {
  const be: Backend = await engine.backendForCall();
  const device = (be as unknown as { device: GPUDevice }).device;
  timed(device, ['createBuffer', 'createBindGroup', 'pushErrorScope', 'popErrorScope', 'createCommandEncoder']);
  const geom = {
    n: 1,
    c: 1,
    h: 28,
    w: 28,
    o: 6,
    kh: 5,
    kw: 5,
    sh: 1,
    sw: 1,
    ph: 0,
    pw: 0,
    dh: 1,
    dw: 1,
    groups: 1,
    oh: 24,
    ow: 24,
  };
  const x = be.upload(new Float32Array(784).fill(0.5), [1, 1, 28, 28], 'bench x');
  const w = be.upload(new Float32Array(150).fill(0.1), [6, 1, 5, 5], 'bench w');
  const b = be.upload(new Float32Array(6).fill(0), [6], 'bench b');
  const z = be.upload(new Float32Array(3456).fill(0.3), [1, 6, 24, 24], 'bench z');
  await be.read([]);
  const kernels: [string, () => unknown][] = [
    ['conv2d forward (LeNet conv1)', () => be.conv2d(x, w, b, geom)],
    ['softplus forward (3456 values)', () => be.activation('softplus', 1, z, null).y],
  ];
  const out: DispatchCost[] = [];
  for (const [kernel, record] of kernels) {
    const times: number[] = [],
      webgpu: number[] = [];
    for (let r = 0; r < repeats + 1; r++) {
      const made: unknown[] = [];
      inWebGPU.ms = 0;
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) made.push(record());
      const dt = performance.now() - t0;
      if (r > 0) webgpu.push((inWebGPU.ms / reps) * 1000);
      be.release(...(made as Parameters<Backend['release']>));
      await be.read([]);
      if (r > 0) times.push((dt / reps) * 1000); // block 0 compiles the pipeline
    }
    const i = times.indexOf(best(times));
    const us = times[i],
      webgpuUs = webgpu[i];
    out.push({ kernel, us, webgpuUs, ownUs: us - webgpuUs });
  }
  be.release(x, w, b, z);
  return out;
}
