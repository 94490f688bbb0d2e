// The GEMM planner (src/backend/webgpu/gemm-plan.ts) as a table: each shape and the plan it must get, worked
// out by hand from the planner's rules (tiled only when M, N and K are all ≥ 64; direct blocks of M ≤ 4 rows,
// ≤ 8 columns along M for N ≤ 16, else 4×4; split-K below 128 tiles with K ≥ 512, or below 256 direct
// threads with K ≥ 4096). The ops tests check every plan's numbers; this pins which plan a shape gets.
import { describe, expect, it } from 'vitest';
import { gemmPlan } from '../src/backend/webgpu/gemm-plan.js';

const tiled = { TILE_M: 64, TILE_N: 64, TILE_K: 16 };
const direct = (R_M: number, R_N: number, ALONG_M: boolean) => ({ R_M, R_N, ALONG_M });

// [M, N, K, B read as vec4 along N, what it is] → kernel, constants, blocks [along N, along M], splits, kChunk
const TABLE: [
  number,
  number,
  number,
  boolean,
  string,
  'main' | 'direct',
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
  [256, 32, 20000, false, 'long K but 512 threads: no split', 'direct', direct(4, 4, false), [8, 64], 1, 20000],
  [
    2,
    11,
    8100,
    false,
    'direct split-K: 3 threads, K ≥ 4096, chunks of ≥ 1024 rounded to 4',
    'direct',
    direct(2, 4, false),
    [3, 1],
    7,
    1160,
  ],
  [
    40,
    100,
    8192,
    false,
    'direct split-K at 250 threads (just under 256): two chunks',
    'direct',
    direct(4, 4, false),
    [25, 10],
    2,
    4096,
  ],
  [40, 100, 4092, false, 'the same with K just under 4096: no split', 'direct', direct(4, 4, false), [25, 10], 1, 4092],
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
