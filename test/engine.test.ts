import { spawnSync } from 'node:child_process';
import { describe, expect, it, vi } from 'vitest';
import type { WebGPUBackend } from '../src/backend/webgpu/webgpu.js';
import { GpuContext } from '../src/backend/webgpu/context.js';
import { FamilySources } from '../src/backend/webgpu/program.js';
import { createEngine } from '../src/engine.js';
import { SmoothgeoError } from '../src/errors.js';
import { loadModel } from '../src/graph/model.js';
import { oracleCases, relL2 } from './helpers.js';

describe('engine', () => {
  it('webgpu reports its adapter; in CI a missing adapter is a failure, never a skip', async () => {
    const engine = await createEngine({ backend: 'webgpu' });
    expect(engine.backend).toBe('webgpu');
    expect(engine.adapter).not.toBeNull();
    expect(engine.describe()).toMatch(/^backend webgpu — WebGPU adapter .+/);
    console.log(engine.describe());
    engine.dispose();
  });

  it('auto picks a hardware WebGPU adapter, else wasm over a software adapter, and says why', async () => {
    const gpu = await createEngine({ backend: 'webgpu' });
    const software = gpu.adapter!.software;
    gpu.dispose();
    const engine = await createEngine();
    if (software) {
      expect(engine.backend).toBe('wasm');
      expect(engine.reason).toMatch(
        /^auto: only a software WebGPU adapter \(WebGPU adapter .+\(software\)\), slower than wasm on the same CPU; ask for backend 'webgpu' to use it; using the wasm backend$/,
      );
    } else {
      expect(engine.backend).toBe('webgpu');
      expect(engine.reason).toBe('auto: hardware WebGPU adapter found');
    }
    console.log(engine.describe());
    engine.dispose();
  });

  it('auto falls back to wasm when WebGPU is unavailable, and to cpu when wasm SIMD is unavailable too, with the reasons', async () => {
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    const engine = await createEngine({ gpu: noAdapter });
    expect(engine.backend).toBe('wasm');
    expect(engine.reason).toMatch(
      /auto: WebGPU unavailable \(no WebGPU adapter: requestAdapter\(\) returned null.*\); using the wasm backend$/,
    );
    expect(engine.describe()).toMatch(/^backend wasm — WebAssembly (SIMD128|relaxed-SIMD) kernels/);
    await expect(createEngine({ backend: 'webgpu', gpu: noAdapter })).rejects.toThrow(/no WebGPU adapter/);
    const validate = vi.spyOn(WebAssembly, 'validate').mockReturnValue(false);
    try {
      const cpu = await createEngine({ gpu: noAdapter });
      expect(cpu.backend).toBe('cpu');
      expect(cpu.reason).toMatch(
        /auto: WebGPU unavailable \(.*\); wasm unavailable \(wasm: this JavaScript engine does not validate WebAssembly SIMD128\); using the float64 cpu backend$/,
      );
      await expect(createEngine({ backend: 'wasm' })).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    } finally {
      validate.mockRestore();
    }
  });

  it('a lost device fails no later call: the next call makes a fresh device and re-uploads the weights', async () => {
    const c = oracleCases()[0];
    const engine = await createEngine({ backend: 'webgpu' });
    const model = await loadModel(engine, c.json.model, c.bytes, { prefix: 'param.' });
    const x = c.tensors.get('x')!;
    await model.forward(x);
    const be = (await engine.backendForCall()) as WebGPUBackend;
    be.device.destroy();
    await new Promise((r) => setTimeout(r, 50)); // let device.lost resolve
    expect(engine.generation).toBe(0);
    const logits = await model.forward(x);
    expect(engine.generation).toBe(1);
    expect(relL2(logits.data, c.tensors.get('logits')!.data)).toBeLessThan(1e-4);
    engine.dispose();
  });

  it('a call in flight when the device is lost fails with DEVICE_LOST', async () => {
    const c = oracleCases()[0];
    const engine = await createEngine({ backend: 'webgpu' });
    const model = await loadModel(engine, c.json.model, c.bytes, { prefix: 'param.' });
    const x = c.tensors.get('x')!;
    const be = (await engine.backendForCall()) as WebGPUBackend;
    const call = model.inputGradient(x, { kind: 'logit', target: c.json.target });
    be.device.destroy();
    await expect(call).rejects.toMatchObject({
      code: 'DEVICE_LOST',
      message: expect.stringMatching(/GPU device was lost .*next call makes a fresh device/),
    });
    engine.dispose();
  });

  it("GPU validation errors are thrown and name the kernel and its shapes, with the compiler's messages on numbered source lines", async () => {
    const engine = await createEngine({ backend: 'webgpu' });
    const ctx = new GpuContext(((await engine.backendForCall()) as WebGPUBackend).device);
    const out = ctx.allocate(16, 'out');
    const program = new FamilySources()
      .add('broken', '//! section main\n@compute @workgroup_size(1) fn main() {\n  y[0] = undefined_name;\n}\n')
      .program({
        family: 'broken',
        sections: ['main'],
        uniforms: [{ name: 'n', type: 'u32' }],
        bindings: [{ name: 'y', access: 'read_write', types: ['f32'] }],
        consts: [],
        workgroupSize: 1,
      });
    ctx.dispatch({
      program,
      label: 'deliberately broken',
      shapes: '[4]',
      uniforms: { n: 4 },
      consts: {},
      bindings: [{ buffer: out, type: 'f32' }],
      workgroups: [1, 1, 1],
    });
    const err = await ctx.read([{ buffer: out, bytes: 16 }]).catch((e) => e);
    expect(err).toBeInstanceOf(SmoothgeoError);
    expect(err.code).toBe('GPU_ERROR');
    expect(err.message).toMatch(/kernel deliberately broken/);
    // The compiler's message, then the offending line with its number and a caret under the column.
    expect(err.message).toMatch(/error at line \d+:\d+: .*undefined_name/);
    expect(err.message).toMatch(/> +\d+ \| {3}y\[0\] = undefined_name;\n +\| +\^/);
    engine.dispose();
  });

  it('engine.profile returns the GPU time of every dispatch of a call from timestamp queries, and the unchanged result', async () => {
    const c = oracleCases()[0];
    const composed: string[] = [];
    const engine = await createEngine({ backend: 'webgpu', debug: { dumpShaders: (key) => composed.push(key) } });
    const model = await loadModel(engine, c.json.model, c.bytes, { prefix: 'param.' });
    const x = c.tensors.get('x')!;
    const plain = await model.forward(x);
    // This adapter (SwiftShader, as any with the feature) has timestamp-query; the engine asked for it.
    expect(engine.adapter!.timestamps).toBe(true);
    // Count the dispatches the call records, to compare with the profile's entries.
    const ctx = ((await engine.backendForCall()) as WebGPUBackend).context;
    const dispatch = ctx.dispatch.bind(ctx);
    let dispatches = 0;
    ctx.dispatch = (d) => {
      dispatches++;
      dispatch(d);
    };
    const p = await engine.profile(() => model.forward(x));
    if (!p.supported) throw new Error(`profile unsupported: ${p.reason}`);
    expect(p.result.data).toEqual(plain.data); // timing changes passes, never results
    // One labelled entry per dispatch of the call.
    expect(dispatches).toBeGreaterThan(0);
    expect(p.kernels.length).toBe(dispatches);
    expect(p.kernels.map((k) => k.label)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^conv2d forward/), expect.stringMatching(/^gemm /)]),
    );
    for (const k of p.kernels) expect(k.ms).toBeGreaterThanOrEqual(0);
    expect(p.kernels.some((k) => k.ms > 0)).toBe(true);
    expect(p.totalMs).toBeCloseTo(
      p.kernels.reduce((s, k) => s + k.ms, 0),
      9,
    );
    expect(p.untimed).toBe(0);
    // Profiling is off again afterwards: the next call is not timed (and composes nothing new).
    const before = composed.length;
    await model.forward(x);
    expect(composed.length).toBe(before);
    engine.dispose();
  });

  it('pipelines compile asynchronously: a first call holds its dispatches until they are ready, with the same result', async () => {
    const c = oracleCases().find((k) => k.name === 'lenet')!;
    const engine = await createEngine({ backend: 'webgpu' });
    const ctx = ((await engine.backendForCall()) as WebGPUBackend).context;
    // How many dispatches waited for a pipeline at the readback (GpuContext's private queue).
    const inner = ctx as unknown as { deferred: unknown[]; encodeDeferred: () => Promise<void> };
    const encodeDeferred = inner.encodeDeferred.bind(ctx);
    let held = 0;
    inner.encodeDeferred = () => {
      held = Math.max(held, inner.deferred.length);
      return encodeDeferred();
    };
    const model = await loadModel(engine, c.json.model, c.bytes, { prefix: 'param.' });
    const x = c.tensors.get('x')!;
    const objective = { kind: 'logit' as const, target: c.json.target };
    const compiledBefore = ctx.compiled;
    const first = await model.inputGradient(x, objective);
    // The first call compiled its pipelines (createComputePipelineAsync) while recording; the second finds
    // them all cached and compiles nothing; both give the same bits.
    expect(ctx.compiled).toBeGreaterThan(compiledBefore);
    expect(held).toBeGreaterThan(0);
    const compiled = ctx.compiled;
    held = 0;
    const second = await model.inputGradient(x, objective);
    expect(ctx.compiled).toBe(compiled);
    expect(held).toBe(0);
    expect(new Uint32Array(second.data.buffer)).toEqual(new Uint32Array(first.data.buffer));
    engine.dispose();
  });

  it('engine.profile on cpu runs the call and says why it cannot time kernels', async () => {
    const engine = await createEngine({ backend: 'cpu' });
    const p = await engine.profile(async () => 42);
    expect(p).toEqual({
      result: 42,
      supported: false,
      reason: expect.stringMatching(/cpu backend runs no GPU kernels/),
      kernels: [],
      totalMs: null,
    });
  });

  it('an error scope that rejects is a GPU_ERROR naming the kernel, not a silent success', async () => {
    const engine = await createEngine({ backend: 'webgpu' });
    const real = ((await engine.backendForCall()) as WebGPUBackend).device;
    // The real device, except that once armed every error scope rejects (as Dawn does for an unbalanced pop).
    let armed = false;
    const device = new Proxy(real, {
      get(target, prop) {
        if (prop === 'popErrorScope' && armed)
          return () => {
            void target.popErrorScope();
            return Promise.reject(new Error('no error scope to pop'));
          };
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const ctx = new GpuContext(device);
    const out = ctx.allocate(16, 'out');
    armed = true;
    const program = new FamilySources()
      .add('fill', '//! section main\n@compute @workgroup_size(1) fn main() { y[0] = 1.0; }\n')
      .program({
        family: 'fill',
        sections: ['main'],
        uniforms: [{ name: 'n', type: 'u32' }],
        bindings: [{ name: 'y', access: 'read_write', types: ['f32'] }],
        consts: [],
        workgroupSize: 1,
      });
    ctx.dispatch({
      program,
      label: 'fill four',
      shapes: '[4]',
      uniforms: { n: 4 },
      consts: {},
      bindings: [{ buffer: out, type: 'f32' }],
      workgroups: [1, 1, 1],
    });
    const err = await ctx.read([{ buffer: out, bytes: 16 }]).catch((e) => e);
    expect(err).toBeInstanceOf(SmoothgeoError);
    expect(err.code).toBe('GPU_ERROR');
    expect(err.message).toMatch(
      /WebGPU error in (compiling )?kernel fill four.*: its error scope was rejected \(no error scope to pop\)/,
    );
    engine.dispose();
  });

  it('sizes past the device limits are refused with the limit named', async () => {
    const engine = await createEngine({ backend: 'webgpu' });
    const ctx = new GpuContext(((await engine.backendForCall()) as WebGPUBackend).device);
    expect(() => ctx.allocate(2 ** 40, 'activations of a huge batch')).toThrow(
      /activations of a huge batch needs 1099511627776 bytes, more than this device binds in one storage buffer/,
    );
    engine.dispose();
  });

  it('a Node process that used the engine exits by itself', () => {
    const script = `
      import { createEngine, loadModel } from './dist/smoothgeo.node.mjs';
      import { readFileSync } from 'node:fs';
      const engine = await createEngine({ backend: 'webgpu' });
      const model = await loadModel(engine, JSON.parse(readFileSync('examples/models/lenet.json', 'utf8')), readFileSync('examples/models/lenet.safetensors'), { prefix: 'param.' });
      const x = { shape: [1, 1, 28, 28], data: new Float32Array(784).fill(0.5) };
      const logits = await model.forward(x);
      console.log('logits', logits.data.length);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 90_000 });
    expect(r.error, 'the process did not exit by itself within 90 s').toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/logits 10/);
  });
});
