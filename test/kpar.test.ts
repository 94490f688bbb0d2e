// The K-parallel reductions (gemm.wgsl kpar + splitk_tree, reduce.wgsl channel_sum): long-K GEMMs with small
// outputs (dense weight gradients, conv filter gradients) and channel sums, on webgpu against the float64 cpu
// backend, on awkward shapes (odd sizes, K one past a chunk, > 64 chunks, stride 2, N = 1…16).
//
// Tolerance from the math: a float32 sum whose longest chain of roundings has D steps errs by at most
// γ_D·Σ|terms| (γ_D = D·u/(1 − D·u), u = 2⁻²⁴; Higham, Accuracy and Stability, §3.1). Σ|terms| is the same
// op on |A| and |B|, computed in float64; D is the kernel's chain: ⌈chunk/64⌉ fma per lane, 3 + 16 adds in
// the workgroup tree, ⌈chunks/64⌉ + 8 + 8 in the chunk sum, and the epilogue's bias and accumulation adds.
// A wrong index or a lost chunk errs by O(|term|), far past it.
import { describe, expect, it } from 'vitest';
import type { Backend, BTensor } from '../src/backend/backend.js';
import { CpuBackend } from '../src/backend/cpu.js';
import { channelSumPlan, gemmPlan, KPAR_LANES, kparTreeSum } from '../src/backend/webgpu/gemm-plan.js';
import { createEngine } from '../src/engine.js';
import { convGeom, randomTensor, rng, webgpuEngine } from './helpers.js';

const U = 2 ** -24;
const gamma = (d: number) => (d * U) / (1 - d * U);
const cpu = new CpuBackend();
const gpu = async (): Promise<Backend> => (await webgpuEngine()).backendForCall();

/** The longest rounding chain of a kpar GEMM (or channel sum) cut into `chunks` of `chunk`, plus `extra` adds. */
const depth = (chunk: number, chunks: number, extra: number) =>
  Math.ceil(chunk / KPAR_LANES) + 3 + 16 + Math.ceil(chunks / KPAR_LANES) + 16 + extra;

/** Checks |got − want| ≤ γ_D·scale elementwise (scale = Σ|terms|, want and scale in float64). */
function expectWithin(got: ArrayLike<number>, want: ArrayLike<number>, scale: ArrayLike<number>, D: number) {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    // The float32 store of the result rounds once more: u·|want|.
    const bound = gamma(D) * scale[i] + U * Math.abs(want[i]);
    if (!(err <= bound)) throw new Error(`element ${i}: got ${got[i]}, want ${want[i]}, error ${err} > ${bound}`);
    worst = Math.max(worst, err / bound);
  }
  return worst;
}

const abs = (d: Float32Array) => d.map(Math.abs);
const up = (be: Backend, data: Float32Array, shape: number[], label: string) => be.upload(data, shape, label);
async function read1(be: Backend, t: BTensor): Promise<Float32Array | Float64Array> {
  return (await be.read([t]))[0];
}

interface MatmulCase {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  bias?: boolean;
  into?: boolean;
}

/** op(A)·op(B) (+ bias) (+ into) on webgpu, its float64 value and Σ|terms| on cpu, and the plan it ran. */
/** C = A·B on the first M rows of A alone ([·, K] row-major, B [K, N]), read back: rows are examples. */
function firstRows(g: Backend, A: Float32Array, B: Float32Array, K: number, N: number) {
  return async (M: number) =>
    (await read1(
      g,
      g.matmul(up(g, A.slice(0, M * K), [M, K], 'A'), up(g, B, [K, N], 'B'), { label: 'rows' }),
    )) as Float32Array;
}

async function matmulCase(c: MatmulCase, seed: number) {
  const r = rng(seed);
  const aShape = c.transA ? [c.K, c.M] : [c.M, c.K];
  const bShape = c.transB ? [c.N, c.K] : [c.K, c.N];
  const A = randomTensor(aShape, r).data,
    B = randomTensor(bShape, r).data;
  const bias = c.bias ? randomTensor([c.N], r).data : null;
  const into = c.into ? randomTensor([c.M, c.N], r).data : null;
  const run = async (
    be: Backend,
    a: Float32Array,
    b: Float32Array,
    bi: Float32Array | null,
    acc: Float32Array | null,
  ) => {
    const out = be.matmul(up(be, a, aShape, 'A'), up(be, b, bShape, 'B'), {
      transA: c.transA,
      transB: c.transB,
      bias: bi && up(be, bi, [c.N], 'bias'),
      into: acc && up(be, acc, [c.M, c.N], 'into'),
      label: 'kpar test',
    });
    return read1(be, out);
  };
  const g = await gpu();
  const got = await run(g, A, B, bias, into);
  const want = await run(cpu, A, B, bias, into);
  const scale = await run(cpu, abs(A), abs(B), bias && abs(bias), into && abs(into));
  return { got, want, scale, plan: gemmPlan(c.M, c.N, c.K, !c.transB && c.N % 4 === 0) };
}

describe('kpar GEMM against float64', () => {
  const cases: [string, MatmulCase][] = [
    ['M = N = 1, K one chunk', { M: 1, N: 1, K: 4096 }],
    ['3×5, K one past a chunk', { M: 3, N: 5, K: 4097 }],
    ['LeNet conv1-like 6×25, three chunks, the last short', { M: 6, N: 25, K: 9001 }],
    ['16×16 with Aᵀ (vec4 along M) and B (vec4 along N)', { M: 16, N: 16, K: 5000, transA: true }],
    ['dense weight gradient Xᵀ·Ȳ, odd sizes', { M: 13, N: 7, K: 4100, transA: true }],
    ['Bᵀ, with bias and accumulation', { M: 7, N: 13, K: 4101, transB: true, bias: true, into: true }],
    ['1×3, 74 chunks (more than the 64 lanes of the chunk sum)', { M: 1, N: 3, K: 300_001 }],
  ];
  it.each(cases)('%s', async (_name, c) => {
    const { got, want, scale, plan } = await matmulCase(c, c.M * 1000 + c.N);
    expect(plan.kernel).toBe('kpar');
    expectWithin(got, want, scale, depth(plan.kChunk, plan.splits, 2));
  });

  it('N = 1…16 at M = 5, K = 4099', async () => {
    for (let N = 1; N <= 16; N++) {
      const { got, want, scale, plan } = await matmulCase({ M: 5, N, K: 4099 }, N);
      expect(plan.kernel).toBe('kpar');
      expectWithin(got, want, scale, depth(plan.kChunk, plan.splits, 0));
    }
  });

  it('is bitwise the same on every run', async () => {
    const c = { M: 6, N: 25, K: 70_001 };
    const a = await matmulCase(c, 7);
    const b = await matmulCase(c, 7);
    expect(a.plan.splits).toBeGreaterThan(1);
    expect(new Uint32Array(b.got.buffer)).toEqual(new Uint32Array(a.got.buffer));
  });

  it('a row of C is bitwise the same whatever M is (the K partition depends on K alone)', async () => {
    // The first 3 rows of A, alone and inside 11 rows: rows are examples when K is a dense layer's input.
    const K = 9000,
      N = 7,
      r = rng(3);
    const A = randomTensor([11, K], r).data,
      B = randomTensor([K, N], r).data;
    const rows = firstRows(await gpu(), A, B, K, N);
    expect(gemmPlan(3, N, K, false).kernel).toBe('kpar');
    expect(gemmPlan(11, N, K, false).kernel).toBe('kpar');
    const few = await rows(3),
      many = await rows(11);
    expect(new Uint32Array(many.slice(0, 3 * N).buffer)).toEqual(new Uint32Array(few.buffer));
  });
});

// Whether kpar runs is a function of N and K (gemm-plan.ts kparFamily), never of M: under the former rule
// (kpar below 10⁴ direct threads) both shapes below ran kpar at M < 64 and the tiled kernels from 64 on, so a
// row's bits changed with the batch around it. Rows 0–2 alone and inside batches on both sides of M = 64.
describe('a row of C is the same bits at batch sizes across the former kpar boundary', () => {
  it.each([
    ['N = 64, K = 4096 = 64·N: kpar at every M', 64, 4096, [3, 63, 64, 130], ['kpar']],
    ['N = 128, K = 4096 < 64·N: the tiled order at every M', 128, 4096, [3, 63, 64, 128], ['direct', 'main', 'wide']],
  ])('%s', async (_what, N, K, Ms, kernels) => {
    const r = rng(N + K);
    const A = randomTensor([Math.max(...Ms), K], r).data,
      B = randomTensor([K, N], r).data;
    const rows = firstRows(await gpu(), A, B, K, N);
    expect(new Set(Ms.map((M) => gemmPlan(M, N, K, true).kernel))).toEqual(new Set(kernels));
    const few = await rows(Ms[0]);
    for (const M of Ms.slice(1))
      expect(new Uint32Array((await rows(M)).slice(0, Ms[0] * N).buffer), `M = ${M}`).toEqual(
        new Uint32Array(few.buffer),
      );
  });
});

// Up to 8 chunks kpar's chunk sum is one thread per element (splitk) instead of a 64-lane tree: the same order,
// so the same bits (gemm-plan.ts kparTreeSum). Both, forced, on 2…9 chunks (and 12, where they differ), with bias, accumulation and a fused
// activation in the store.
describe('kpar chunk sum: one thread per element = the 64-lane tree, up to 8 chunks', () => {
  it('the same bits on 2…9 chunks, with bias + into, and with bias + softplus', async () => {
    const g = (await gpu()) as Backend & { chunkSumTree: boolean | null };
    const M = 6,
      N = 10,
      r = rng(8);
    try {
      for (const splits of [2, 3, 4, 5, 6, 7, 8, 9, 12]) {
        const K = 4096 * splits - 37;
        expect(gemmPlan(M, N, K, false)).toMatchObject({ kernel: 'kpar', splits });
        expect(kparTreeSum(splits)).toBe(splits > 8);
        // Past 9 chunks the tree adds groups of 8 (p0…p7 + p8…p11): another order, as the comparison must see.
        const A = randomTensor([M, K], r).data,
          B = randomTensor([K, N], r).data,
          bias = randomTensor([N], r).data,
          into = randomTensor([M, N], r).data;
        const run = async () => {
          const c = g.matmul(up(g, A, [M, K], 'A'), up(g, B, [K, N], 'B'), {
            bias: up(g, bias, [N], 'bias'),
            into: up(g, into, [M, N], 'into'),
            label: 'serial or tree',
          });
          const { z, a } = g.matmulActivated(
            up(g, A, [M, K], 'A'),
            up(g, B, [K, N], 'B'),
            { bias: up(g, bias, [N], 'bias'), label: 'serial or tree, fused' },
            { kind: 'softplus', beta: 2, z: null },
          );
          return ((await g.read([c, z, a])) as Float32Array[]).map((x) => new Uint32Array(x.buffer));
        };
        g.chunkSumTree = true;
        const tree = await run();
        g.chunkSumTree = false;
        const serial = await run();
        if (splits === 12) expect(serial).not.toEqual(tree);
        else expect(serial, `${splits} chunks`).toEqual(tree);
      }
    } finally {
      g.chunkSumTree = null;
    }
  });
});

describe('kpar on a 2-D grid of workgroups', () => {
  it('gives the same bits when its blocks outnumber one dimension (as on a device allowing 7 per dimension)', async () => {
    // kpar runs at any M, so its 4×4 blocks can pass maxComputeWorkgroupsPerDimension (65,535): they are
    // numbered x + y·nwg.x. A real case takes > 10⁹ multiply-adds; here the grid is capped at 7 per dimension.
    const c = { M: 37, N: 13, K: 4500 };
    const plan = gemmPlan(c.M, c.N, c.K, false);
    expect(plan.kernel).toBe('kpar');
    expect(plan.blocks[0] * plan.blocks[1]).toBe(40); // 7 × 6 workgroups, the last 2 idle
    const g = (await gpu()) as unknown as { grid1d: (total: number, size: number) => [number, number, number] };
    const flat = await matmulCase(c, 21);
    const asked: number[] = [];
    g.grid1d = (total, size) => {
      asked.push(total);
      const groups = Math.max(1, Math.ceil(total / size)),
        x = Math.min(groups, 7);
      return [x, Math.ceil(groups / x), 1];
    };
    try {
      const grid = await matmulCase(c, 21);
      expect(asked).toContain(40); // kpar's grid came from grid1d
      expect(new Uint32Array(grid.got.buffer)).toEqual(new Uint32Array(flat.got.buffer));
      expectWithin(grid.got, grid.want, grid.scale, depth(plan.kChunk, plan.splits, 0));
    } finally {
      delete (g as { grid1d?: unknown }).grid1d;
    }
  });
});

describe('kpar conv2d backward-filter against float64', () => {
  it.each([
    ['stride 2, odd sizes, K = 5·32·31', convGeom(5, 2, 65, 63, 3, [3, 3], [2, 2], [1, 1])],
    ['groups 2, stride 2, no padding', convGeom(9, 4, 47, 45, 6, [3, 3], [2, 2], [0, 0], [1, 1], 2)],
    ['one input channel, 5×5 (LeNet conv1 at 8 images)', convGeom(8, 1, 28, 28, 6, [5, 5], [1, 1], [0, 0])],
  ])('%s', async (_name, g) => {
    const r = rng(g.n * 100 + g.c);
    const gy = randomTensor([g.n, g.o, g.oh, g.ow], r).data;
    const x = randomTensor([g.n, g.c, g.h, g.w], r).data;
    const run = async (be: Backend, a: Float32Array, b: Float32Array) =>
      read1(
        be,
        be.conv2dBackwardFilter(up(be, a, [g.n, g.o, g.oh, g.ow], 'gy'), up(be, b, [g.n, g.c, g.h, g.w], 'x'), g),
      );
    const K = g.n * g.oh * g.ow;
    const plan = gemmPlan(g.o / g.groups, (g.c / g.groups) * g.kh * g.kw, K, false);
    expect(plan.kernel).toBe('kpar');
    const got = await run(await gpu(), gy, x);
    expectWithin(got, await run(cpu, gy, x), await run(cpu, abs(gy), abs(x)), depth(plan.kChunk, plan.splits, 0));
  });
});

describe('K-parallel channel sums against float64', () => {
  it.each([
    ['one chunk (K < 1024)', 3, 5, 61, false],
    ['K one past a chunk', 1, 7, 1025, false],
    ['odd planes, two chunks', 7, 5, 13 * 17, false],
    ['dense bias (spatial 1), accumulated', 3001, 9, 1, true],
    ['98 chunks (past the 64 lanes of the chunk sum)', 40, 2, 2500, false],
  ])('%s', async (_name, n, channels, spatial, accumulate) => {
    const r = rng(n + channels + spatial);
    const t = randomTensor([n, channels, spatial], r).data;
    const acc = accumulate ? randomTensor([channels], r).data : null;
    const run = async (be: Backend, data: Float32Array, a: Float32Array | null) =>
      read1(
        be,
        be.channelSum(up(be, data, [n, channels, spatial], 't'), channels, spatial, a && up(be, a, [channels], 'acc')),
      );
    const { chunk, chunks } = channelSumPlan(n * spatial);
    const got = await run(await gpu(), t, acc);
    expectWithin(got, await run(cpu, t, acc), await run(cpu, abs(t), acc && abs(acc)), depth(chunk, chunks, 1));
  });

  it('is bitwise the same on every run', async () => {
    const t = randomTensor([50, 3, 400], rng(9)).data;
    const g = await gpu();
    const once = async () => (await read1(g, g.channelSum(up(g, t, [50, 3, 400], 't'), 3, 400))) as Float32Array;
    const a = await once(),
      b = await once();
    expect(channelSumPlan(50 * 400).chunks).toBeGreaterThan(1);
    expect(new Uint32Array(b.buffer)).toEqual(new Uint32Array(a.buffer));
  });
});

describe('dispatch labels', () => {
  it('name the kernel and its split per dispatch, though one pipeline serves both split counts', async () => {
    const compiled: string[] = [];
    const engine = await createEngine({ backend: 'webgpu', debug: { dumpShaders: (key) => compiled.push(key) } });
    const be = await engine.backendForCall();
    const r = rng(11);
    const gemm = (K: number, label: string) =>
      be.matmul(up(be, randomTensor([3, K], r).data, [3, K], 'A'), up(be, randomTensor([K, 5], r).data, [K, 5], 'B'), {
        label,
      });
    const p = await engine.profile(async () => {
      const outs = [gemm(40_000, 'ten'), gemm(50_000, 'thirteen')];
      await be.read(outs);
    });
    if (!p.supported) throw new Error(p.reason);
    expect(p.kernels.map((k) => k.label)).toEqual([
      'gemm ten [kpar, split-K 10×4096]',
      'gemm ten [sum of 10 K chunks, tree]',
      'gemm thirteen [kpar, split-K 13×4096]',
      'gemm thirteen [sum of 13 K chunks, tree]',
    ]);
    expect(compiled.filter((k) => k.startsWith('gemm/kpar+')).length).toBe(1);
    expect(compiled.filter((k) => k.startsWith('gemm/splitk_tree+')).length).toBe(1);
    engine.dispose();
  });
});
