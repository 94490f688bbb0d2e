import { describe, expect, it } from 'vitest';
import type { Backend, BTensor, ConvGeom } from '../src/backend/backend.js';
import { CpuBackend } from '../src/backend/cpu.js';
import type { ThreadPool } from '../src/backend/wasm/threads.js';
import { off, type WasmBackend } from '../src/backend/wasm/wasm.js';
import { convGeom, relL2, rng, wasmEngine } from './helpers.js';

/**
 * The direct (no im2col) stride-1 convolution kernels of kernels/conv2d.ts against the float64 reference:
 * every output-channel remainder of the 4-channel tile (O mod 4, where 1 or 2 left-over channels take the
 * 1-channel × 4-row tile), output widths that are and are not multiples of the 8-pixel tile, heights that are
 * and are not multiples of 4 rows, padding 0 … k − 1 (so ȳ's padding k − 1 − p runs from k − 1 down to 0),
 * non-square kernels, bias, and accumulation into an existing tensor; backward input both as the correlation
 * over padded ȳ and on row tiles (kernels/conv2d.ts rowsPay: more than an eighth of the columns border),
 * with 1, 2 or 3 pairs (c, s) left over for the last group and 1 to 3 blocks of 8 ȳ columns.
 * Each output is a float32 sum of ≤ 400 O(1) terms (C·kh·kw forward, o·kh·kw backward): relative error
 * ≲ 1e-6; 1e-5 as in test/ops.test.ts.
 */
const TOL = 1e-5;
const cpu = new CpuBackend();

const GEOMS: ConvGeom[] = [];
for (const o of [1, 2, 3, 4, 5, 6, 7, 9]) GEOMS.push(convGeom(2, 1 + (o % 3), 9, 13, o, [3, 3], [1, 1], [o % 2, 0])); // channel remainders, ow = 11 or 13
for (const [c, o] of [
  [1, 6],
  [6, 12],
  [12, 6],
  [6, 1],
])
  GEOMS.push(convGeom(3, c, 12, 12, o, [5, 5], [1, 1], [0, 0])); // LeNet-like: ow = 8, in place
GEOMS.push(convGeom(2, 1, 28, 28, 6, [5, 5], [1, 1], [0, 0])); // LeNet conv1: read in place (ow = 24, oh = 24)
GEOMS.push(convGeom(2, 3, 7, 10, 5, [3, 2], [1, 1], [2, 1])); // padding = k − 1 (ȳ unpadded), non-square kernel
GEOMS.push(convGeom(1, 2, 5, 6, 2, [4, 1], [1, 1], [1, 0])); // tall kernel, oh = 4, ow = 6
GEOMS.push(convGeom(2, 4, 3, 17, 8, [1, 1], [1, 1], [0, 0])); // 1×1 convolution, ow = 17 (two whole tiles and one lane)
// Backward input on row tiles with padding, ȳ rows padded to 8 and pairs (c, s) not a multiple of 4.
GEOMS.push(convGeom(2, 2, 9, 11, 10, [5, 4], [1, 1], [1, 0])); // ow = 8, 8 pairs, padding 1 row
GEOMS.push(convGeom(3, 5, 10, 13, 12, [5, 5], [1, 1], [0, 1])); // ow = 11 (ȳ rows padded to 16), 25 pairs (last group: 1)
GEOMS.push(convGeom(1, 1, 6, 6, 16, [5, 5], [1, 1], [0, 0])); // N = 1, oh = ow = 2, 5 pairs

async function convPasses(be: Backend, g: ConvGeom, seed: number, into: boolean): Promise<number[]> {
  const r = rng(seed);
  const vals = (n: number) => Array.from({ length: n }, () => r(-1, 1));
  const X = be.upload(vals(g.n * g.c * g.h * g.w), [g.n, g.c, g.h, g.w], 'x');
  const W = be.upload(vals(g.o * g.c * g.kh * g.kw), [g.o, g.c, g.kh, g.kw], 'w');
  const GY = be.upload(vals(g.n * g.o * g.oh * g.ow), [g.n, g.o, g.oh, g.ow], 'gy');
  const bias = be.upload(vals(g.o), [g.o], 'b');
  const yInto = into ? be.upload(vals(g.n * g.o * g.oh * g.ow), [g.n, g.o, g.oh, g.ow], 'y into') : null;
  const gxInto = into ? be.upload(vals(g.n * g.c * g.h * g.w), [g.n, g.c, g.h, g.w], 'gx into') : null;
  const y = be.conv2d(X, W, bias, g, yInto);
  const gx = be.conv2dBackwardInput(GY, W, g, gxInto);
  const out = (await be.read([y, gx])).flatMap((t) => Array.from(t));
  be.release(X, W, GY, bias, y, gx);
  return out;
}

describe('wasm direct stride-1 convolution (forward and backward input) against float64', () => {
  it.each(GEOMS.map((g, i) => [i, g] as const))('geometry %i: %j', async (i, g) => {
    const be = (await (await wasmEngine()).backendForCall()) as WasmBackend;
    for (const into of [false, true]) {
      const got = await convPasses(be, g, 100 + i, into),
        want = await convPasses(cpu, g, 100 + i, into);
      expect(relL2(got, want), `into = ${into}`).toBeLessThan(TOL);
    }
  });
});

describe('wasm 2×2 stride-2 max pooling (the SIMD path) against float64', () => {
  // Values from {0, 1, 2, 3} make ties in most windows, so the argmax must pick the first maximum in the
  // scalar loop's order ((0,0), (0,1), (1,0), (1,1)) exactly as the reference does; a NaN in the first cell
  // of a window stays the window's value (nothing compares greater than it), as in the general loop.
  it.each([
    [2, 3, 8, 8],
    [1, 2, 9, 11],
    [3, 1, 6, 14],
    [1, 1, 2, 2],
  ])('n = %i, c = %i, %i×%i: values and argmax identical', async (n, c, h, w) => {
    const be = (await (await wasmEngine()).backendForCall()) as WasmBackend;
    const oh = Math.floor(h / 2),
      ow = Math.floor(w / 2);
    const g = { n, c, h, w, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0, countIncludePad: false, oh, ow };
    const r = rng(n * 1000 + h * 10 + w);
    const x = Array.from({ length: n * c * h * w }, () => Math.floor(r(0, 4)));
    x[0] = NaN;
    // wasm reads an index tensor back as its int32 bits (as webgpu), the cpu backend as numbers.
    const run = async (b: Backend, bits: boolean) => {
      const X = b.upload(x, [n, c, h, w], 'x');
      const { y, argmax } = b.maxPool(X, g);
      const [yv, av] = await b.read([y, argmax]);
      b.release(X, y, argmax);
      return { y: Array.from(yv), argmax: Array.from(bits ? new Int32Array(av.buffer, av.byteOffset, av.length) : av) };
    };
    const got = await run(be, true),
      want = await run(cpu, false);
    expect(got.y).toEqual(want.y);
    expect(got.argmax).toEqual(want.argmax);
  });
});

/** A 2-thread wasm engine and scatterAdd's operands over n items: gy = 1, index = the identity, gx = 0. */
async function scatterOnTwoThreads(n: number) {
  const { createEngine } = await import('../src/engine.js');
  const engine = await createEngine({ backend: 'wasm', threads: 2 });
  const be = (await engine.backendForCall()) as unknown as {
    pool: ThreadPool;
    k: { scatterAdd: (...a: number[]) => void };
  } & Backend;
  const gy = be.upload(new Float32Array(n).fill(1), [n], 'ones');
  const index = be.uploadIndices(
    Int32Array.from({ length: n }, (_, i) => i),
    [n],
    'identity',
  );
  return { engine, be, gy, index, gx: be.zeros([n], 'sums') };
}

describe('wasm thread pool', () => {
  it('defaults to the available cores in Node and says so in describe()', async () => {
    const { createEngine } = await import('../src/engine.js');
    const { availableParallelism } = await import('node:os');
    const engine = await createEngine({ backend: 'wasm' });
    const n = availableParallelism();
    expect(engine.describe()).toContain(`${n} thread${n > 1 ? 's' : ''} (default: the ${n} available core`);
    engine.dispose();
  });

  it('3 threads (an uneven split of 50 samples and of element ranges) give bitwise the SmoothGrad of 1 thread, B = 1 and B = 3', async () => {
    const { createEngine } = await import('../src/engine.js');
    const { loadModel } = await import('../src/graph/model.js');
    const { smoothGrad } = await import('../src/attribution/methods.js');
    const { oracleCases } = await import('./helpers.js');
    const c = oracleCases().find((k) => k.name === 'lenet')!;
    const x = c.tensors.get('x')!;
    const per = x.data.length / x.shape[0];
    const x3 = {
      shape: [3, ...x.shape.slice(1)],
      data: Float32Array.from({ length: 3 * per }, (_, i) => x.data[i % (2 * per)]),
    };
    const runs: Float32Array[][] = [];
    for (const threads of [1, 3]) {
      const engine = await createEngine({ backend: 'wasm', threads });
      const model = await loadModel(engine, c.json.model, c.bytes, { prefix: 'param.' });
      runs.push([
        (
          await smoothGrad(
            model,
            { shape: [1, ...x.shape.slice(1)], data: x.data.slice(0, per) },
            { target: [c.json.target[0]], sigma: 0.15, samples: 50, seed: 5 },
          )
        ).attributions.data,
        (
          await smoothGrad(model, x3, {
            target: [c.json.target[0], c.json.target[1], c.json.target[0]],
            sigma: 0.2,
            samples: 50,
            seed: 6,
          })
        ).attributions.data,
      ]);
      engine.dispose();
    }
    for (let i = 0; i < 2; i++) expect(Array.from(runs[1][i])).toEqual(Array.from(runs[0][i]));
  });

  it('every chunk runs exactly once whichever thread takes it: a stalled caller is robbed by the worker, a sleeping worker by the caller', async () => {
    // scatterAdd adds gy[i] into gx[index[i]]: with gy = 1 and index = i, a chunk run twice leaves a 2 and
    // a chunk never run a 0. 16 chunks of 64 items on 2 threads, 300 times, racing for real.
    const { engine, be, gy, index, gx } = await scatterOnTwoThreads(16 * 64);
    const argsOf = (c: number) => [off(gy) + 4 * 64 * c, off(index, 'i32') + 4 * 64 * c, off(gx), 64, 0, 0];
    let stolen = 0;
    const runs = 300;
    for (let r = 0; r < runs; r++) {
      let mine = 0;
      const stall = r % 3 === 0; // the caller stalls 20 ms in its first chunk: the worker takes the rest
      if (r % 3 === 1) {
        be.pool.spinMicros = 0; // the worker sleeps: the caller starts alone and takes the worker's chunks
        await new Promise((res) => setTimeout(res, 5));
      } else be.pool.spinMicros = 2000;
      be.pool.run(
        'scatterAdd',
        16,
        (c, t) => {
          if (t === 0 && mine++ === 0 && stall) for (const t0 = performance.now(); performance.now() - t0 < 20;);
          return argsOf(c);
        },
        be.k.scatterAdd,
      );
      if (stall && mine < 8) stolen++;
    }
    const sums = (await be.read([gx]))[0];
    expect(new Set(sums)).toEqual(new Set([runs]));
    expect(stolen, 'runs where the worker took chunks of the stalled caller').toBeGreaterThan(0);
    engine.dispose();
  });

  it("forkLatency (bench:wasm's wake-up probe) has a worker, not the caller, run the published chunk with its arguments", async () => {
    const n = 256;
    const { engine, be, gy, index, gx } = await scatterOnTwoThreads(n);
    for (const idle of [0, 5]) {
      await new Promise((res) => setTimeout(res, idle)); // 5 ms: past the spin window, the worker sleeps
      const ms = be.pool.forkLatency('scatterAdd', [off(gy), off(index, 'i32'), off(gx), n, 0, 0]);
      expect(ms).toBeGreaterThan(0);
    }
    expect(new Set((await be.read([gx]))[0])).toEqual(new Set([2]));
    engine.dispose();
    const { createEngine } = await import('../src/engine.js');
    const one = await createEngine({ backend: 'wasm', threads: 1 });
    expect(await one.backendForCall()).toHaveProperty('pool', null);
    one.dispose();
  });

  it('a disposed threaded engine refuses the next call at once instead of waiting for its stopped workers', async () => {
    // bench/wasm.mjs once called engine.dispose() inside its model loop and then kept using the engine: the
    // pool's workers had been told to quit and terminated, and the next parallel kernel waited for them.
    const { createEngine } = await import('../src/engine.js');
    const { loadModel } = await import('../src/graph/model.js');
    const { oracleCases } = await import('./helpers.js');
    const c = oracleCases().find((k) => k.name === 'lenet')!;
    const engine = await createEngine({ backend: 'wasm', threads: 2 });
    const model = await loadModel(engine, c.json.model, c.bytes, { prefix: 'param.' });
    engine.dispose();
    await expect(model.forward(c.tensors.get('x')!)).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
      message: expect.stringMatching(/disposed/),
    });
  });
});

describe('wasm relaxed-SIMD build', () => {
  it('runs exactly where WebAssembly.validate accepts the relaxed_madd probe, and says which build runs', async () => {
    const { relaxedSimdSupported } = await import('../src/backend/wasm/module.js');
    const engine = await wasmEngine();
    expect(engine.describe()).toContain(
      relaxedSimdSupported() ? 'relaxed-SIMD kernels' : 'SIMD128 kernels (relaxed SIMD does not validate',
    );
  });

  it('under --experimental-wasm-relaxed-simd (Node 20) the relaxed build is picked and agrees with float64 (LeNet gradient and HVP)', async () => {
    // A child process with the flag (V8 flags cannot be turned on in a running process); it prints the
    // engine's description and the results, which are checked here against the cpu backend.
    const { spawnSync } = await import('node:child_process');
    const script = `
      import { createEngine, loadModel } from './dist/smoothgeo.node.mjs';
      import { readFileSync } from 'node:fs';
      const spec = JSON.parse(readFileSync('test/fixtures/oracle/lenet.json', 'utf8'));
      const bytes = readFileSync('test/fixtures/oracle/lenet.safetensors');
      const engine = await createEngine({ backend: 'wasm', threads: 2 });
      const model = await loadModel(engine, spec.model, bytes, { prefix: 'param.' });
      const x = { shape: [2, 1, 28, 28], data: Float32Array.from({ length: 1568 }, (_, i) => (Math.sin(i) + 1) / 2) };
      const v = { shape: [2, 1, 28, 28], data: Float32Array.from({ length: 1568 }, (_, i) => Math.cos(i)) };
      const objective = { kind: 'logit', target: [3, 7] };
      const g = await model.inputGradient(x, objective), h = await model.inputHvp(x, v, objective);
      console.log(JSON.stringify({ describe: engine.describe(), g: Array.from(g.data), h: Array.from(h.data) }));
      engine.dispose();
      process.exit(0);`;
    const r = spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { describe: string; g: number[]; h: number[] };
    expect(out.describe).toContain('relaxed-SIMD kernels');
    const { createEngine } = await import('../src/engine.js');
    const { loadModel } = await import('../src/graph/model.js');
    const { oracleCases } = await import('./helpers.js');
    const c = oracleCases().find((k) => k.name === 'lenet')!;
    const engine = await createEngine({ backend: 'cpu' });
    const model = await loadModel(engine, c.json.model, c.bytes, { prefix: 'param.' });
    const x = { shape: [2, 1, 28, 28], data: Float32Array.from({ length: 1568 }, (_, i) => (Math.sin(i) + 1) / 2) };
    const v = { shape: [2, 1, 28, 28], data: Float32Array.from({ length: 1568 }, (_, i) => Math.cos(i)) };
    const objective = { kind: 'logit' as const, target: [3, 7] };
    // float32 with fused or unfused multiply-adds against float64: the per-op tolerance of test/ops.test.ts.
    expect(relL2(out.g, (await model.inputGradient(x, objective)).data)).toBeLessThan(1e-4);
    expect(relL2(out.h, (await model.inputHvp(x, v, objective)).data)).toBeLessThan(1e-4);
  });
});

describe('wasm conv2dActivated: the activation applied by the convolution kernel per example', () => {
  // Direct (stride 1) and im2col (stride 2) paths, each activation kind, with and without accumulation:
  // z and σ(z) against float64. σ adds a few float32 roundings to z's: the same 1e-5 relative bound.
  const cases: [ConvGeom, 'relu' | 'softplus' | 'tanh' | 'sigmoid', number][] = [
    [convGeom(3, 2, 9, 11, 6, [3, 3], [1, 1], [1, 1]), 'softplus', 10],
    [convGeom(2, 1, 12, 12, 5, [5, 5], [1, 1], [0, 0]), 'relu', 1],
    [{ ...convGeom(2, 3, 9, 9, 4, [3, 3], [1, 1], [1, 1]), sh: 2, sw: 2, oh: 5, ow: 5 }, 'softplus', 2],
    [convGeom(2, 2, 7, 10, 3, [3, 2], [1, 1], [0, 1]), 'tanh', 1],
    [convGeom(2, 2, 7, 7, 2, [3, 3], [1, 1], [1, 1]), 'sigmoid', 1],
  ];
  it.each(cases.map(([g, kind, beta], i) => [i, kind, beta, g] as const))(
    'case %i: %s β = %d, %j',
    async (i, kind, beta, g) => {
      const be = (await (await wasmEngine()).backendForCall()) as WasmBackend;
      const run = async (b: Backend, into: boolean) => {
        const r = rng(300 + i);
        const vals = (n: number) => Array.from({ length: n }, () => r(-1, 1));
        const X = b.upload(vals(g.n * g.c * g.h * g.w), [g.n, g.c, g.h, g.w], 'x');
        const W = b.upload(vals(g.o * g.c * g.kh * g.kw), [g.o, g.c, g.kh, g.kw], 'w');
        const bias = b.upload(vals(g.o), [g.o], 'b');
        const acc = into ? b.upload(vals(g.n * g.o * g.oh * g.ow), [g.n, g.o, g.oh, g.ow], 'into') : null;
        const { z, a } = b.conv2dActivated(X, W, bias, g, { kind, beta, z: null }, acc);
        const out = (await b.read([z, a])).flatMap((t) => Array.from(t));
        b.release(X, W, bias, z, a);
        return out;
      };
      for (const into of [false, true])
        expect(relL2(await run(be, into), await run(cpu, into)), `into = ${into}`).toBeLessThan(TOL);
    },
  );
});

describe('wasm GEMM with K past one 256-deep block (partial sums added to C block by block)', () => {
  it.each([
    [5, 9, 257],
    [8, 16, 515],
    [3, 1, 600],
  ])('M = %i, N = %i, K = %i with bias and accumulation against float64', async (M, N, K) => {
    const be = (await (await wasmEngine()).backendForCall()) as WasmBackend;
    const r = rng(M * N * K);
    const a = Array.from({ length: M * K }, () => r(-1, 1)),
      b = Array.from({ length: K * N }, () => r(-1, 1));
    const bias = Array.from({ length: N }, () => r(-1, 1)),
      acc = Array.from({ length: M * N }, () => r(-1, 1));
    const run = async (x: Backend) => {
      const A = x.upload(a, [M, K], 'a'),
        B = x.upload(b, [N, K], 'b'),
        into = x.upload(acc, [M, N], 'into');
      const c = x.matmul(A, B, { transB: true, bias: x.upload(bias, [N], 'bias'), into, label: 'long K' });
      return Array.from((await x.read([c]))[0]);
    };
    // float32 sums of up to 600 O(1) terms: ~1e-6 relative.
    expect(relL2(await run(be), await run(cpu))).toBeLessThan(TOL);
  });
});

describe('wasm pooling split across threads by planes', () => {
  it('3 threads give bitwise the values, argmax and backward passes of 1 thread (max 2×2 and 3×3 stride 2 overlapping, average with padding)', async () => {
    const { createEngine } = await import('../src/engine.js');
    const geoms = [
      { n: 20, c: 8, h: 48, w: 48, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0, countIncludePad: false, oh: 24, ow: 24 },
      { n: 20, c: 8, h: 49, w: 47, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, countIncludePad: true, oh: 25, ow: 24 },
    ];
    const results: number[][][] = [];
    for (const threads of [1, 3]) {
      const engine = await createEngine({ backend: 'wasm', threads });
      const be = (await engine.backendForCall()) as WasmBackend;
      const out: number[][] = [];
      for (const g of geoms) {
        const r = rng(g.h * 100 + g.w);
        const X = be.upload(
          Array.from({ length: g.n * g.c * g.h * g.w }, () => Math.floor(r(0, 8))),
          [g.n, g.c, g.h, g.w],
          'x',
        );
        const GY = be.upload(
          Array.from({ length: g.n * g.c * g.oh * g.ow }, () => r(-1, 1)),
          [g.n, g.c, g.oh, g.ow],
          'gy',
        );
        const { y, argmax } = be.maxPool(X, g);
        const ts = [y, argmax, be.maxPoolBackward(GY, argmax, g), be.avgPool(X, g), be.avgPoolBackward(GY, g)];
        for (const t of await be.read(ts)) out.push(Array.from(new Int32Array(t.buffer, t.byteOffset, t.length)));
      }
      results.push(out);
      engine.dispose();
    }
    // Both geometries are past the split threshold (4 operations per window cell ≥ 5·10⁵). Compared as int32 bits: bitwise, with the argmax tensors' own bits.
    for (let i = 0; i < results[0].length; i++) expect(results[1][i]).toEqual(results[0][i]);
  });
  it('pooling backward passes zero their own gradient planes: right on an arena left full of NaN, for 1 and 3 threads', async () => {
    // The host no longer zeroes the gradient: each thread's kernel clears the planes it writes. A tensor of NaN
    // released just before makes the arena hand the same bytes back, so a plane left uncleared shows as NaN.
    const { createEngine } = await import('../src/engine.js');
    const geoms = [
      { n: 20, c: 8, h: 48, w: 48, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0, countIncludePad: false, oh: 24, ow: 24 },
      { n: 20, c: 8, h: 49, w: 47, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, countIncludePad: true, oh: 25, ow: 24 },
      { n: 3, c: 2, h: 7, w: 5, kh: 3, kw: 2, sh: 1, sw: 2, ph: 1, pw: 0, countIncludePad: false, oh: 7, ow: 2 },
    ];
    for (const threads of [1, 3]) {
      const engine = await createEngine({ backend: 'wasm', threads });
      const be = (await engine.backendForCall()) as WasmBackend;
      for (const g of geoms) {
        const r = rng(g.h * 31 + g.w + threads);
        const xs = Array.from({ length: g.n * g.c * g.h * g.w }, () => r(-1, 1));
        const gys = Array.from({ length: g.n * g.c * g.oh * g.ow }, () => r(-1, 1));
        const X = be.upload(xs, [g.n, g.c, g.h, g.w], 'x');
        const GY = be.upload(gys, [g.n, g.c, g.oh, g.ow], 'gy');
        const { y, argmax } = be.maxPool(X, g);
        const plane = g.h * g.w;
        for (const pass of ['max', 'avg'] as const) {
          be.release(be.upload(new Array(xs.length).fill(NaN), [g.n, g.c, g.h, g.w], 'dirt'));
          const gx = pass === 'max' ? be.maxPoolBackward(GY, argmax, g) : be.avgPoolBackward(GY, g);
          const [got, idxBits] = await be.read([gx, argmax]);
          const idx = new Int32Array(idxBits.buffer, idxBits.byteOffset, idxBits.length);
          const want = new Float64Array(xs.length);
          if (pass === 'max') {
            for (let k = 0; k < gys.length; k++) if (idx[k] >= 0) want[idx[k]] += gys[k];
          } else {
            for (let pl = 0; pl < g.n * g.c; pl++)
              for (let p = 0; p < g.oh; p++)
                for (let q = 0; q < g.ow; q++) {
                  const h0 = p * g.sh - g.ph,
                    w0 = q * g.sw - g.pw;
                  const hs = [],
                    ws = [];
                  for (let i = h0; i < h0 + g.kh; i++)
                    if (g.countIncludePad ? i < g.h + g.ph : i >= 0 && i < g.h) hs.push(i);
                  for (let j = w0; j < w0 + g.kw; j++)
                    if (g.countIncludePad ? j < g.w + g.pw : j >= 0 && j < g.w) ws.push(j);
                  const v = gys[(pl * g.oh + p) * g.ow + q] / (hs.length * ws.length);
                  for (const i of hs)
                    for (const j of ws) if (i >= 0 && i < g.h && j >= 0 && j < g.w) want[pl * plane + i * g.w + j] += v;
                }
          }
          // float32 sums of at most kh·kw terms of |v| ≤ 1: a few ulps of 1.
          for (let i = 0; i < want.length; i++)
            expect(Math.abs(got[i] - want[i]), `${pass} ${threads}T cell ${i}`).toBeLessThan(1e-5);
          be.release(gx);
        }
        be.release(X, GY, y, argmax);
      }
      engine.dispose();
    }
  });
});

describe('wasm GEMM split across threads (row or column panels of one packed B) with the fused activation epilogue', () => {
  // Shapes past the split threshold that split by rows (M = 203: 4-row panels and a 1×8 row edge), by columns
  // (M = 6, N = 301: 8-column panels and a column edge), the MLP's 50×784 → 64 (K past one 256 block), and
  // B read in place.
  // Every transpose combination, a column bias, accumulation into C, and each activation in value and
  // tangent form. 3 threads split unevenly: bitwise the result of 1 thread; both against float64
  // (float32 sums of ≤ 784 O(1) terms and a few roundings of the activation: 1e-5 as elsewhere).
  const shapes: [number, number, number, boolean, boolean][] = [
    [203, 37, 129, false, true],
    [6, 301, 300, true, false],
    [50, 64, 784, false, true],
    [21, 130, 260, true, true],
    // B stored [K,N] with N a multiple of 8: read in place, unpacked (the MLP's backward 50×64 → 784).
    [40, 784, 64, false, false],
    [130, 16, 300, false, false],
  ];
  const kinds = ['relu', 'softplus', 'tanh', 'sigmoid'] as const;
  async function run(be: Backend, [M, N, K, transA, transB]: (typeof shapes)[number], i: number): Promise<number[][]> {
    const r = rng(900 + i);
    const vals = (n: number) => Array.from({ length: n }, () => r(-1, 1));
    const A = be.upload(vals(M * K), transA ? [K, M] : [M, K], 'a');
    const B = be.upload(vals(K * N), transB ? [N, K] : [K, N], 'b');
    const bias = be.upload(vals(N), [N], 'bias');
    const pre = be.upload(vals(M * N), [M, N], 'pre-activation');
    const outs: BTensor[] = [];
    const into = be.upload(vals(M * N), [M, N], 'into');
    outs.push(be.matmul(A, B, { transA, transB, bias, into, label: 'plain' }));
    const kind = kinds[i % 4];
    // A fresh C is cleared by the kernel, not the host: released NaN is what the arena hands back for it.
    const dirt = () => be.release(be.upload(new Array(M * N).fill(NaN), [M, N], 'dirt'));
    dirt();
    const v = be.matmulActivated(A, B, { transA, transB, bias, label: 'value' }, { kind, beta: 3, z: null });
    dirt();
    const t = be.matmulActivated(A, B, { transA, transB, label: 'tangent' }, { kind, beta: 3, z: pre });
    outs.push(v.z, v.a, t.z, t.a);
    const res = (await be.read(outs)).map((x) => Array.from(x));
    be.release(A, B, bias, pre, ...outs);
    return res;
  }
  it.each(shapes.map((s, i) => [i, ...s] as const))(
    'case %i: M = %i, N = %i, K = %i, transA %s, transB %s',
    async (i) => {
      const { createEngine } = await import('../src/engine.js');
      const got: number[][][] = [];
      for (const threads of [1, 3]) {
        const engine = await createEngine({ backend: 'wasm', threads });
        got.push(await run(await engine.backendForCall(), shapes[i], i));
        engine.dispose();
      }
      const want = await run(cpu, shapes[i], i);
      for (let j = 0; j < want.length; j++) {
        expect(got[1][j], `output ${j}, 3 threads vs 1`).toEqual(got[0][j]);
        expect(relL2(got[0][j], want[j]), `output ${j} vs float64`).toBeLessThan(TOL);
      }
    },
  );
});

describe('wasm sampleReduce: the 4-element float64x2 fold', () => {
  // SmoothGrad's fold (no multiply by the input) runs 4 elements at a time in float64x2 lanes; the rest of a
  // range, and every element of a one-element range, take the scalar loop. Both must give the same bits:
  // d = 19 (4 groups and a tail of 3), samples folded S = 1 and S = 3 at a time (q0 = 1: a partial path
  // carried in the running sum), after `done` earlier samples, with and without absolute values.
  it.each([
    [1, 0],
    [3, 0],
    [1, 1],
    [3, 1],
  ])('S = %i, absolute = %i: a whole range gives bitwise the values of one-element ranges', async (S, absolute) => {
    const be = (await (await wasmEngine()).backendForCall()) as WasmBackend;
    const B = 2,
      d = 19,
      len = 7,
      q0 = 1,
      done = 5;
    const r = rng(40 + S + absolute);
    const vals = (n: number, lo = -1) => Array.from({ length: n }, () => r(lo, 1));
    const params = be.upload([...vals(B, 0), ...vals(S, 0), ...vals(S, 0)], [B + 2 * S], 'params');
    const grads = be.upload(vals(B * len * d), [B * len, d], 'grads');
    const stats0 = [...vals(2 * B * d), ...vals(B * d, 0)];
    const run = async (ranges: [number, number][]) => {
      const stats = be.upload(stats0, [3, B, d], 'stats');
      for (const [i0, i1] of ranges)
        be.k.sampleReduce(
          1,
          0,
          0,
          0,
          off(params),
          0,
          0,
          0,
          1,
          S,
          B,
          d,
          0,
          off(grads),
          q0,
          len,
          off(stats),
          done,
          0,
          absolute,
          i0,
          i1,
        );
      const [out] = await be.read([stats]);
      be.release(stats);
      return Array.from(out);
    };
    const whole = await run([[0, d]]);
    const single = await run(Array.from({ length: d }, (_, i) => [i, i + 1] as [number, number]));
    expect(whole).toEqual(single);
    expect(whole).not.toEqual(stats0.map((v) => Math.fround(v))); // the fold changed the statistics
    be.release(params, grads);
  });
});
