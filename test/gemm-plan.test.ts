// The GEMM planner (src/backend/webgpu/gemm-plan.ts) as a table: each shape and the plan it must get, worked
// out by hand from the planner's rules (tiled only when M, N and K are all ≥ 64; direct blocks of M ≤ 4 rows,
// ≤ 8 columns along M for N ≤ 16, else 4×4; split-K below 128 tiles with K ≥ 512; kpar instead of direct
// below 10⁴ direct threads with K ≥ 4096, in chunks of max(4096, ⌈K/256⌉ rounded up to 64)). The ops and
// kpar tests check every plan's numbers; this pins which plan a shape gets.
import { describe, expect, it } from 'vitest';
import { channelSumPlan, gemmPlan, KPAR_LANES, kparChunk } from '../src/backend/webgpu/gemm-plan.js';

const tiled = { TILE_M: 64, TILE_N: 64, TILE_K: 16 };
const direct = (R_M: number, R_N: number, ALONG_M: boolean) => ({ R_M, R_N, ALONG_M });

// [M, N, K, B read as vec4 along N, what it is] → kernel, constants, blocks [along N, along M], splits, kChunk
const TABLE: [
  number,
  number,
  number,
  boolean,
  string,
  'main' | 'direct' | 'kpar',
  Record<string, unknown>,
  [number, number],
  number,
  number,
][] = [
  [1, 10, 192, true, 'dense at batch 1 (LeNet fc): GEMV-like rows', 'direct', direct(1, 4, false), [3, 1], 1, 192],
  [3, 5, 13, false, 'tiny dense: R_M = M', 'direct', direct(3, 4, false), [2, 1], 1, 13],
  [
    576,
    6,
    25,
    false,
    'LeNet conv1 forward: one 6-wide column group along M',
    'direct',
    direct(4, 6, true),
    [1, 144],
    1,
    25,
  ],
  [784, 1, 150, false, 'conv backward input into one channel', 'direct', direct(4, 1, true), [1, 196], 1, 150],
  [100, 11, 12, false, 'N = 11: two even column groups of 6', 'direct', direct(4, 6, true), [2, 25], 1, 12],
  [
    100,
    11,
    12,
    true,
    'N = 11 with vec4 B along N: groups rounded up to 8',
    'direct',
    direct(4, 8, true),
    [2, 25],
    1,
    12,
  ],
  [
    6,
    25,
    576,
    false,
    'LeNet conv1 filter gradient: 4×4 blocks, K too short to split',
    'direct',
    direct(4, 4, false),
    [7, 2],
    1,
    576,
  ],
  [63, 64, 64, false, 'M = 63: just below the tiled kernel', 'direct', direct(4, 4, false), [16, 16], 1, 64],
  [256, 32, 20000, false, 'long K, 512 direct threads: kpar, 5 chunks', 'kpar', {}, [8, 64], 5, 4096],
  [2, 11, 8100, false, 'kpar: 3 direct threads, K ≥ 4096, chunks of 4096', 'kpar', {}, [3, 1], 2, 4096],
  [40, 100, 8192, false, 'kpar at 250 4×4 blocks: two chunks', 'kpar', {}, [25, 10], 2, 4096],
  [40, 100, 4092, false, 'the same with K just under 4096: direct', 'direct', direct(4, 4, false), [25, 10], 1, 4092],
  [
    6,
    25,
    2_097_150,
    false,
    'kpar, K past 256 chunks of 4096: chunks of ⌈K/256⌉ rounded to 64',
    'kpar',
    {},
    [7, 2],
    256,
    8192,
  ],
  [
    4000,
    40,
    5000,
    false,
    'long K but 10,000 direct threads: direct',
    'direct',
    direct(4, 4, false),
    [10, 1000],
    1,
    5000,
  ],
  [64, 64, 64, false, 'smallest tiled GEMM', 'main', tiled, [1, 1], 1, 64],
  [
    64,
    64,
    520,
    false,
    'tiled split-K: one tile, K ≥ 512, chunks of ≥ 256 rounded to 16',
    'main',
    tiled,
    [1, 1],
    2,
    272,
  ],
  [512, 640, 1024, false, 'tiled split-K at 80 tiles (under 128): two chunks', 'main', tiled, [10, 8], 2, 512],
  [512, 1024, 1024, false, 'tiled at 128 tiles: no split', 'main', tiled, [16, 8], 1, 1024],
  [1024, 1024, 1024, true, 'square 1024: 256 tiles, no split', 'main', tiled, [16, 16], 1, 1024],
  [4096, 4096, 4096, true, 'square 4096', 'main', tiled, [64, 64], 1, 4096],
];

describe('GEMM planner: shape → plan', () => {
  it.each(TABLE)(
    '%i×%i×%i (vec4 B along N: %s): %s',
    (M, N, K, vecB, _what, kernel, consts, blocks, splits, kChunk) => {
      const plan = gemmPlan(M, N, K, vecB);
      expect(plan).toEqual({ kernel, consts, blocks, splits, kChunk, workgroupSize: kernel === 'main' ? 256 : 64 });
      // Every split covers its chunk of K and the last one ends at K.
      expect((splits - 1) * kChunk).toBeLessThan(K);
      expect(splits * kChunk).toBeGreaterThanOrEqual(K);
    },
  );
});

// The examples: conv1 of LeNet (1 → 6 channels, 5×5, 24×24 outputs) at 800 and 16,000 images. Its
// filter gradient (M = 6, N = 25, K = images·576) and its bias gradient (a channel sum over the same K) must
// run on ≥ 10⁴ threads in ≥ 1,000 workgroups: a large GPU has 132 SMs × 2,048 threads.
describe('GEMM planner: long-K reductions on many threads', () => {
  it.each([800, 16_000])('LeNet conv1 backward-filter and bias gradient at %i images', (images) => {
    const K = images * 24 * 24;
    const plan = gemmPlan(6, 25, K, false);
    expect(plan.kernel).toBe('kpar');
    const workgroups = plan.blocks[0] * plan.blocks[1] * plan.splits;
    expect(workgroups).toBeGreaterThanOrEqual(1000);
    expect(workgroups * plan.workgroupSize).toBeGreaterThanOrEqual(10_000);
    expect((plan.splits - 1) * plan.kChunk).toBeLessThan(K);
    expect(plan.splits * plan.kChunk).toBeGreaterThanOrEqual(K);
    const sum = channelSumPlan(K);
    expect(6 * sum.chunks).toBeGreaterThanOrEqual(1000);
    expect(6 * sum.chunks * KPAR_LANES).toBeGreaterThanOrEqual(10_000);
    expect((sum.chunks - 1) * sum.chunk).toBeLessThan(K);
    expect(sum.chunks * sum.chunk).toBeGreaterThanOrEqual(K);
  });

  it('LeNet conv2 (6 → 16, 5×5, 8×8 outputs) and fc3 (84 → 10) weight gradients at 16,000 images', () => {
    for (const [M, N, K] of [
      [16, 150, 16_000 * 64],
      [84, 10, 16_000],
    ]) {
      const plan = gemmPlan(M, N, K, false);
      expect(plan.kernel).toBe('kpar');
      expect(plan.blocks[0] * plan.blocks[1] * plan.splits * plan.workgroupSize).toBeGreaterThanOrEqual(10_000);
    }
  });

  it('the K partition depends on K alone: the same chunks for every M and N', () => {
    for (const K of [4096, 4097, 50_000, 460_800, 9_216_000]) {
      const chunks = new Set([1, 3, 6, 16, 40].flatMap((M) => [1, 7, 25].map((N) => gemmPlan(M, N, K, false).kChunk)));
      expect([...chunks]).toEqual([kparChunk(K)]);
    }
  });
});
