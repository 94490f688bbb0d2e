// The GEMM kernels against each other and against float64: `wide` (128×128 tiles, kernels/gemm-wide.ts),
// `main` (64×64 tiles) and `direct`, forced on one shape through WebGPUBackend.gemmKernel, on awkward shapes
// (odd M, N, K; K not a multiple of the tile or the split chunk; 1×1; N = 1…16; Aᵀ and Bᵀ, vec4 and scalar
// operands; bias, accumulation and a fused activation; convolutions at stride 2).
//
// Every kernel sums each element of C as one fma chain over k in order within each K chunk, and the chunks
// in order (gemm-plan.ts tiledSplit, a function of N and K), so the three must agree to the bit: the test is
// 0 ulp. Against float64 the bound is Higham's: |error| ≤ γ_D·Σ|terms| + u·|result| with D the longest
// rounding chain (the chunk's fma, the chunk sum's adds, the bias and accumulation), γ_D = D·u/(1 − D·u).
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, BTensor } from '../src/backend/backend.js';
import { CpuBackend } from '../src/backend/cpu.js';
import { gemmPlan, tiledSplit, type GemmKernel } from '../src/backend/webgpu/gemm-plan.js';
import type { WebGPUBackend } from '../src/backend/webgpu/webgpu.js';
import { createEngine } from '../src/engine.js';
import { SmoothgeoError } from '../src/errors.js';
import { loadModel } from '../src/graph/model.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { smoothGrad } from '../src/attribution/methods.js';
import { convGeom, randomTensor, relL2, rng, webgpuEngine } from './helpers.js';

const U = 2 ** -24;
const gamma = (d: number) => (d * U) / (1 - d * U);
const cpu = new CpuBackend();
const gpu = async () => (await (await webgpuEngine()).backendForCall()) as unknown as WebGPUBackend;
const KERNELS: GemmKernel[] = ['main', 'wide', 'direct'];

afterAll(async () => {
  (await gpu()).gemmKernel = null;
});

/** Runs fn with every GEMM forced onto `kernel`. */
async function on<T>(kernel: GemmKernel | null, fn: (be: Backend) => Promise<T>): Promise<T> {
  const be = await gpu();
  be.gemmKernel = kernel;
  try {
    return await fn(be as unknown as Backend);
  } finally {
    be.gemmKernel = null;
  }
}

const up = (be: Backend, d: Float32Array, shape: number[], label: string) => be.upload(d, shape, label);
const read1 = async (be: Backend, t: BTensor) => (await be.read([t]))[0] as Float32Array;
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

function expectWithin(got: ArrayLike<number>, want: ArrayLike<number>, scale: ArrayLike<number>, D: number) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const bound = gamma(D) * scale[i] + U * Math.abs(want[i]);
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= bound)) throw new Error(`element ${i}: got ${got[i]}, want ${want[i]}, error ${err} > ${bound}`);
  }
}

interface Case {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  bias?: boolean;
  into?: boolean;
  act?: 'relu' | 'tanh';
}

/** The case on one backend: C (and σ(C) when fused). */
async function runCase(
  be: Backend,
  c: Case,
  A: Float32Array,
  B: Float32Array,
  bias: Float32Array | null,
  into: Float32Array | null,
) {
  const a = up(be, A, c.transA ? [c.K, c.M] : [c.M, c.K], 'A');
  const b = up(be, B, c.transB ? [c.N, c.K] : [c.K, c.N], 'B');
  const opts = {
    transA: c.transA,
    transB: c.transB,
    bias: bias && up(be, bias, [c.N], 'bias'),
    into: into && up(be, into, [c.M, c.N], 'into'),
    label: 'wide test',
  };
  if (c.act) {
    const r = be.matmulActivated(a, b, opts, { kind: c.act, beta: 1, z: null });
    const [z, s] = await be.read([r.z, r.a]);
    return [z, s] as Float32Array[];
  }
  return [await read1(be, be.matmul(a, b, opts))];
}

async function check(c: Case, seed: number) {
  const r = rng(seed);
  const A = randomTensor(c.transA ? [c.K, c.M] : [c.M, c.K], r).data;
  const B = randomTensor(c.transB ? [c.N, c.K] : [c.K, c.N], r).data;
  const bias = c.bias ? randomTensor([c.N], r).data : null;
  const into = c.into ? randomTensor([c.M, c.N], r).data : null;
  const results = [];
  for (const k of KERNELS) results.push(await on(k, (be) => runCase(be, c, A, B, bias, into)));
  // 0 ulp between kernels, on C and on the fused activation's output.
  for (let i = 1; i < results.length; i++)
    for (let j = 0; j < results[0].length; j++) expect(bits(results[i][j]), KERNELS[i]).toEqual(bits(results[0][j]));
  const want = await runCase(cpu, c, A, B, bias, into);
  const abs = (d: Float32Array | null) => d && d.map(Math.abs);
  const scale = await runCase(cpu, { ...c, act: undefined }, abs(A)!, abs(B)!, abs(bias), abs(into));
  const { splits, kChunk } = tiledSplit(c.N, c.K);
  const D = Math.min(kChunk, c.K) + splits + 2;
  expectWithin(results[0][0], want[0], scale[0], D);
  if (c.act) {
    // σ is 1-Lipschitz for relu and tanh: its output errs by at most C's bound plus its own rounding (a few ulp
    // of tanh, measured ≤ 2 ulp on SwiftShader: 4u here).
    const f = c.act === 'relu' ? (x: number) => Math.max(0, x) : Math.tanh;
    const sWant = want[0].map(f);
    for (let i = 0; i < sWant.length; i++) {
      const bound = gamma(D) * scale[0][i] + U * Math.abs(want[0][i]) + 4 * U * Math.max(1, Math.abs(sWant[i]));
      expect(Math.abs(results[0][1][i] - sWant[i])).toBeLessThanOrEqual(bound);
    }
  }
  return results[0][0];
}

describe('wide, main and direct GEMM kernels: the same bits, within the float64 bound', () => {
  // Few distinct operand layouts (each compiles a pipeline per kernel on SwiftShader, seconds apiece).
  const cases: [string, Case][] = [
    ['odd sizes: edge tiles on both sides, K not a multiple of 8', { M: 131, N: 133, K: 67 }],
    ['1×1×1 (same layout as above)', { M: 1, N: 1, K: 1 }],
    ['one row, K = 9 (same layout)', { M: 1, N: 133, K: 9 }],
    ['Aᵀ (vec4 along M) and Bᵀ (vec4 along K), interior tiles', { M: 256, N: 128, K: 64, transA: true, transB: true }],
    [
      'Aᵀ, Bᵀ, odd sizes (scalar loads), bias and accumulation',
      { M: 129, N: 131, K: 37, transA: true, transB: true, bias: true, into: true },
    ],
    ['bias and a fused tanh, vec4 A and B', { M: 132, N: 136, K: 52, bias: true, act: 'tanh' }],
    ['split K: 3 chunks of 384, the last 332 long', { M: 150, N: 64, K: 1100 }],
  ];
  it.each(cases)('%s', async (_name, c) => {
    await check(c, c.M * 7 + c.N * 3 + c.K);
  });

  it('N = 1…16 at M = 130, K = 21', async () => {
    for (let N = 1; N <= 16; N++) await check({ M: 130, N, K: 21 }, N);
  });

  it('is bitwise the same on every run', async () => {
    const c = { M: 150, N: 64, K: 1100 };
    expect(tiledSplit(c.N, c.K).splits).toBeGreaterThan(1);
    const a = await check(c, 5);
    const b = await check(c, 5);
    expect(bits(b)).toEqual(bits(a));
  });

  it('a row of C is bitwise the same whatever M is (the split ignores M: direct at M = 3, wide and main at 300)', async () => {
    const K = 1500,
      N = 130,
      r = rng(3);
    const A = randomTensor([300, K], r).data,
      B = randomTensor([K, N], r).data;
    expect(tiledSplit(N, K).splits).toBe(3);
    const rows = (kernel: GemmKernel | null, M: number) =>
      on(kernel, async (be) =>
        read1(be, be.matmul(up(be, A.slice(0, M * K), [M, K], 'A'), up(be, B, [K, N], 'B'), { label: 'rows' })),
      );
    expect(gemmPlan(3, N, K, true).kernel).toBe('direct');
    expect(gemmPlan(300, N, K, true).kernel).toBe('wide');
    const few = await rows(null, 3);
    for (const kernel of [null, 'main'] as const) {
      const many = await rows(kernel, 300);
      expect(bits(many.slice(0, 3 * N))).toEqual(bits(few));
    }
  });
});

describe('convolutions (gathered operands) on every kernel', () => {
  it.each([['stride 2, pad 1, odd sizes', convGeom(3, 5, 15, 15, 7, [3, 3], [2, 2], [1, 1])]])(
    '%s: forward, backward input and backward filter agree to the bit (wide, direct with and without staged weights)',
    async (_name, g) => {
      const r = rng(g.c * 31 + g.o);
      const x = randomTensor([g.n, g.c, g.h, g.w], r).data;
      const w = randomTensor([g.o, g.c, g.kh, g.kw], r).data;
      const gy = randomTensor([g.n, g.o, g.oh, g.ow], r).data;
      const bias = randomTensor([g.o], r).data;
      const passes = async (be: Backend) => {
        const X = up(be, x, [g.n, g.c, g.h, g.w], 'x'),
          W = up(be, w, [g.o, g.c, g.kh, g.kw], 'w'),
          GY = up(be, gy, [g.n, g.o, g.oh, g.ow], 'gy');
        return (await be.read([
          be.conv2d(X, W, up(be, bias, [g.o], 'bias'), g),
          be.conv2dBackwardInput(GY, W, g),
          be.conv2dBackwardFilter(GY, X, g),
        ])) as Float32Array[];
      };
      const ref = await passes(cpu);
      // direct with the weights staged in workgroup memory (on hardware adapters by default) and without.
      const be = await gpu();
      be.stageWeights = true;
      const base = await on('direct', passes).finally(() => (be.stageWeights = null));
      for (let i = 0; i < 3; i++) {
        const scale = Math.max(...ref[i].map(Math.abs), 1);
        // A conv's K is at most 7·3·3 = 63 here: the float64 bound with D = 66 on the largest |value| · K.
        for (let j = 0; j < ref[i].length; j++)
          expect(Math.abs(base[i][j] - ref[i][j])).toBeLessThanOrEqual(gamma(66) * scale * 64);
      }
      be.stageWeights = false;
      const unstaged = await on('direct', passes).finally(() => (be.stageWeights = null));
      for (let i = 0; i < 3; i++) expect(bits(unstaged[i]), `unstaged pass ${i}`).toEqual(bits(base[i]));
      // main is checked against direct on dense shapes above; here the gathered loaders on wide.
      const got = await on('wide', passes);
      for (let i = 0; i < 3; i++) expect(bits(got[i]), `wide pass ${i}`).toEqual(bits(base[i]));
    },
  );
});

// direct's column groups: one group of all N ≤ 16 channels (the default) or groups of ≤ 8 (forced), with the
// weights staged in workgroup memory or not. Each element of C sums the same k in
// the same order in every variant, so they must agree to the bit. The plans differ only for N = 9…16 (below,
// both are one group of N); each N compares two variants, the pairs alternating so that every 8-column
// variant meets every 16-column one (each variant compiles its own pipelines: ~0.5 s each on SwiftShader).
// LeNet-like convolutions at odd sizes and stride 2: forward with bias and a fused softplus, backward-input
// (in 4 phases); the 8-column result is checked against float64 as well.
describe('direct: one column group of up to 16 channels = groups of 8, staged or not', () => {
  type Variant = readonly [8 | 16, boolean];
  const pairs: [Variant, Variant][] = [
    [
      [8, false],
      [16, true],
    ],
    [
      [8, true],
      [16, false],
    ],
    [
      [8, false],
      [16, false],
    ],
    [
      [8, true],
      [16, true],
    ],
  ];
  /** Runs `passes` on each variant of the pair; the outputs of both, then float64's. */
  async function compare(pair: [Variant, Variant], passes: (b: Backend) => Promise<Float32Array[]>) {
    const be = await gpu();
    const got: Float32Array[][] = [];
    try {
      for (const [cols, staged] of pair) {
        be.groupColumns = cols;
        be.stageWeights = staged;
        got.push(await passes(be as unknown as Backend));
      }
    } finally {
      be.groupColumns = null;
      be.stageWeights = null;
    }
    return { got, want: await passes(cpu) };
  }
  /** |error| ≤ γ_D·Σ|terms| + u·|value|, with Σ|terms| bounded by (max |value| + 1)·K, loosely. */
  function expectClose(got: Float32Array, want: Float32Array | Float64Array, K: number, what: string) {
    const scale = (Math.max(...want.map(Math.abs)) + 1) * K;
    for (let j = 0; j < want.length; j++)
      expect(Math.abs(got[j] - want[j]), `${what}, element ${j}`).toBeLessThanOrEqual(
        gamma(K + 2) * scale + U * Math.abs(want[j]),
      );
  }

  it('the plans differ for N = 9…16 only: one group of N, or two', () => {
    for (let N = 1; N <= 16; N++)
      for (const vecB of [false, N % 4 === 0]) {
        const one = gemmPlan(500, N, 75, vecB, { groupColumns: 16 }),
          two = gemmPlan(500, N, 75, vecB, { groupColumns: 8 });
        expect([one.consts.R_N, one.blocks[0]]).toEqual([N % 4 === 0 || !vecB ? N : Math.ceil(N / 4) * 4, 1]);
        expect(two.blocks[0]).toBe(N > 8 ? 2 : 1);
        if (N <= 8) expect(two).toEqual(one);
        // One group by default, on hardware and software adapters.
        expect(gemmPlan(500, N, 75, vecB, { software: false })).toEqual(one);
        expect(gemmPlan(500, N, 75, vecB, { software: true })).toEqual(one);
      }
  });

  it.each([9, 10, 11, 12, 13, 14, 15, 16])(
    'forward into N = %i channels, bias + softplus in the epilogue, stride 2, odd sizes',
    async (N) => {
      const g = convGeom(3, 3, 13, 11, N, [5, 5], [2, 2], [1, 1]);
      const r = rng(N);
      const x = randomTensor([3, 3, 13, 11], r).data,
        w = randomTensor([N, 3, 5, 5], r).data,
        bias = randomTensor([N], r).data;
      const pair = pairs[N % 4];
      const { got, want } = await compare(pair, async (b) => {
        const { z, a } = b.conv2dActivated(
          up(b, x, [3, 3, 13, 11], 'x'),
          up(b, w, [N, 3, 5, 5], 'w'),
          up(b, bias, [N], 'bias'),
          g,
          { kind: 'softplus', beta: 3, z: null },
        );
        return (await b.read([z, a])) as Float32Array[];
      });
      expectClose(got[0][0], want[0], 75, `N = ${N}`);
      for (let i = 0; i < 2; i++)
        expect(bits(got[1][i]), `${pair[1].join(' columns, staged ')}`).toEqual(bits(got[0][i]));
    },
  );

  it.each([11, 16])('backward-input into N = %i channels, stride 2 (4 phases), odd sizes', async (N) => {
    const g = convGeom(3, N, 13, 11, 5, [5, 5], [2, 2], [1, 1]);
    const r = rng(100 + N);
    const gy = randomTensor([3, 5, g.oh, g.ow], r).data,
      w = randomTensor([5, N, 5, 5], r).data;
    const pair = pairs[N % 4];
    const { got, want } = await compare(pair, async (b) => [
      await read1(b, b.conv2dBackwardInput(up(b, gy, [3, 5, g.oh, g.ow], 'gy'), up(b, w, [5, N, 5, 5], 'w'), g)),
    ]);
    expectClose(got[0][0], want[0], 45, `N = ${N}`);
    expect(bits(got[1][0]), `${pair[1].join(' columns, staged ')}`).toEqual(bits(got[0][0]));
  });
});

describe('choosing the kernel', () => {
  it('createEngine rejects an unknown debug.gemmKernel with a SmoothgeoError', async () => {
    await expect(createEngine({ backend: 'webgpu', debug: { gemmKernel: 'big' as never } })).rejects.toThrow(
      SmoothgeoError,
    );
    await expect(createEngine({ backend: 'webgpu', debug: { gemmKernel: 'big' as never } })).rejects.toThrow(
      /debug\.gemmKernel must be 'auto' or 'main' or 'wide' or 'direct' or 'kpar', got/,
    );
  });

  it('debug.gemmKernel forces the kernel and the dispatch label says so', async () => {
    const engine = await createEngine({ backend: 'webgpu', debug: { gemmKernel: 'wide' } });
    try {
      const be = await engine.backendForCall();
      const p = await be.profile(async () => {
        const c = be.matmul(
          be.upload(new Float32Array(64), [8, 8], 'a'),
          be.upload(new Float32Array(64), [8, 8], 'b'),
          { label: 'x' },
        );
        return be.read([c]);
      });
      if (p.supported) expect(p.kernels.map((k) => k.label).join(' ')).toContain('[tiled 128×128]');
      expect((be as unknown as WebGPUBackend).gemmKernel).toBe('wide');
    } finally {
      engine.dispose();
    }
  });
});

// SmoothGrad's sweeps run B·len rows at once, len set by the memory budget: every per-sample gradient must be
// the same bits whatever the rows around it. (The running mean over chunks is merged with Chan's formula in
// sample_reduce, whose float32 rounding depends on the chunking at the ulp level by design: checked here
// against float64 instead.)
describe('gradients do not depend on the batch around them', () => {
  it('an MLP whose first layer splits K (1100 inputs: 3 chunks): 80 rows at once = 40 sweeps of 2 rows', async () => {
    const r = rng(17);
    const spec = {
      input: [1100],
      layers: [{ type: 'dense', name: 'a', out: 64 }, { type: 'tanh' }, { type: 'dense', name: 'b', out: 3 }],
    };
    const w = encodeSafetensors({
      'a.weight': randomTensor([64, 1100], r, -0.05, 0.05),
      'a.bias': randomTensor([64], r, -0.1, 0.1),
      'b.weight': randomTensor([3, 64], r, -0.3, 0.3),
      'b.bias': randomTensor([3], r, -0.1, 0.1),
    });
    const m = await loadModel(await webgpuEngine(), spec as never, w);
    const x = randomTensor([80, 1100], r, 0, 1);
    const target = Array.from({ length: 80 }, (_, i) => i % 3);
    // 80 rows run the forward GEMM on main, 2 rows on direct: the K partition must be the same for both.
    expect(gemmPlan(80, 64, 1100, true).kernel).toBe('main');
    expect(gemmPlan(2, 64, 1100, true).kernel).toBe('direct');
    expect(tiledSplit(64, 1100).splits).toBe(3);
    const all = (await m.inputGradient(x, { kind: 'logit', target })).data as Float32Array;
    for (let b = 0; b < 80; b += 2) {
      const part = await m.inputGradient(
        { shape: [2, 1100], data: x.data.slice(b * 1100, (b + 2) * 1100) },
        { kind: 'logit', target: target.slice(b, b + 2) },
      );
      expect(bits(part.data as Float32Array)).toEqual(bits(all.slice(b * 1100, (b + 2) * 1100)));
    }
    // SmoothGrad at 1 and 40 samples per sweep: the same gradients, merged in a different float32 order.
    const sg = (batchSize: number) =>
      smoothGrad(
        m,
        { shape: [2, 1100], data: x.data.slice(0, 2200) },
        { target: [0, 2], sigma: 0.1, samples: 40, seed: 5, batchSize },
      );
    const one = await sg(40),
      many = await sg(1);
    expect([one.chunks, many.chunks]).toEqual([1, 40]);
    expect(relL2(many.attributions.data, one.attributions.data)).toBeLessThan(1e-5);
  });
});
