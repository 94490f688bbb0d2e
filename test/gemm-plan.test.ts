// The GEMM planner (src/backend/webgpu/gemm-plan.ts) as a table: each shape and the plan it must get, worked
// out by hand from the planner's rules (tiled only when M, N and K are all ≥ 64: the 128×128 `wide` when M
// and N are ≥ 128, else the 64×64 `main`, on every adapter; direct blocks of M ≤ 4 rows,
// one group of all N ≤ 16 columns along M (≤ 8 when forced), else 4×4; main, wide and direct split K ≥ 1024 into min(⌈K/512⌉, ⌊K/N⌋, 64)
// chunks rounded up to 64, whatever M; kpar instead of all of them when K ≥ 4096 and K ≥ 64·N, whatever M, in
// chunks of max(4096, ⌈K/256⌉ rounded up to 64)). The ops, kpar and gemm-wide tests check every plan's
// numbers; this pins which plan a shape gets.
import { describe, expect, it } from 'vitest';
import {
  channelSumPlan,
  directStaging,
  gemmPlan,
  KPAR_LANES,
  kparChunk,
  kparFamily,
  tiledSplit,
} from '../src/backend/webgpu/gemm-plan.js';

const tiled = { TILE_M: 64, TILE_N: 64, TILE_K: 16 };
const direct = (R_M: number, R_N: number, ALONG_M: boolean) => ({ R_M, R_N, ALONG_M });

// [M, N, K, B read as vec4 along N, what it is] → kernel, constants, blocks [along N, along M], splits, kChunk
const TABLE: [
  number,
  number,
  number,
  boolean,
  string,
  'main' | 'wide' | 'direct' | 'kpar',
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
  [100, 11, 12, false, 'N = 11: one column group of 11', 'direct', direct(4, 11, true), [1, 25], 1, 12],
  [
    100,
    11,
    12,
    true,
    'N = 11 with vec4 B along N: the group rounded up to 12',
    'direct',
    direct(4, 12, true),
    [1, 25],
    1,
    12,
  ],
  [
    1024,
    16,
    150,
    false,
    'LeNet conv2 forward: one group of 16 columns (64 accumulators)',
    'direct',
    direct(4, 16, true),
    [1, 256],
    1,
    150,
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
  [2, 11, 8100, false, 'kpar: K ≥ 4096 and K ≥ 64·N, chunks of 4096', 'kpar', {}, [3, 1], 2, 4096],
  [40, 100, 8192, false, 'kpar at K = 82·N: two chunks', 'kpar', {}, [25, 10], 2, 4096],
  [
    40,
    100,
    4092,
    false,
    'the same with K just under 4096: direct, K split in 8 (⌊K/N⌋ = 40)',
    'direct',
    direct(4, 4, false),
    [25, 10],
    8,
    512,
  ],
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
  [4000, 40, 5000, false, 'K = 125·N: kpar at 4,000 rows as at 1 (M is not read)', 'kpar', {}, [10, 1000], 2, 4096],
  [
    3,
    80,
    4096,
    false,
    'K = 51·N < 64·N: the tiled order even at M = 3, K split in 8',
    'direct',
    direct(3, 4, false),
    [20, 1],
    8,
    512,
  ],
  [64, 64, 64, false, 'smallest tiled GEMM', 'main', tiled, [1, 1], 1, 64],
  [64, 64, 520, false, 'K under 1024: no split', 'main', tiled, [1, 1], 1, 520],
  [64, 64, 1100, false, 'one tile, K ≥ 1024: 3 chunks of 384', 'main', tiled, [1, 1], 3, 384],
  [512, 640, 1024, false, 'K = 1024 but ⌊K/N⌋ = 1: no split (partials would outgrow A)', 'wide', {}, [5, 4], 1, 1024],
  [127, 640, 1024, false, 'M = 127: main', 'main', tiled, [10, 2], 1, 1024],
  [512, 1024, 1024, false, 'wide at 32 tiles: no split', 'wide', {}, [8, 4], 1, 1024],
  [1024, 1024, 1024, true, 'square 1024: 64 wide tiles, no split', 'wide', {}, [8, 8], 1, 1024],
  [4096, 4096, 4096, true, 'square 4096: 1,024 wide tiles', 'wide', {}, [32, 32], 1, 4096],
];

describe('GEMM planner: shape → plan', () => {
  it.each(TABLE)(
    '%i×%i×%i (vec4 B along N: %s): %s',
    (M, N, K, vecB, _what, kernel, consts, blocks, splits, kChunk) => {
      const plan = gemmPlan(M, N, K, vecB);
      const workgroupSize = kernel === 'main' || kernel === 'wide' ? 256 : 64;
      expect(plan).toEqual({ kernel, consts, blocks, splits, kChunk, workgroupSize });
      // The plan is the same on every adapter (only direct's weight staging depends on it).
      expect(gemmPlan(M, N, K, vecB, { software: true })).toEqual(plan);
      expect(gemmPlan(M, N, K, vecB, { software: false })).toEqual(plan);
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

  it('LeNet conv2 (6 → 16, 5×5, 8×8 outputs) and fc3 (84 → 10), MLP fc2 (64 → 10) weight gradients', () => {
    // A weight gradient is Ȳᵀ·X: M = outputs, N = inputs, K = images (× pixels for a convolution).
    for (const [M, N, K] of [
      [16, 150, 800 * 64],
      [16, 150, 16_000 * 64],
      [10, 84, 16_000],
      [10, 64, 16_000],
    ]) {
      const plan = gemmPlan(M, N, K, false);
      expect(plan.kernel).toBe('kpar');
      expect(plan.blocks[0] * plan.blocks[1] * plan.splits * plan.workgroupSize).toBeGreaterThanOrEqual(10_000);
      // conv2's filter gradient: 1,976 workgroups at 800 images, 38,000 at 16,000 (as under the M·N rule).
      if (N === 150) expect(plan.blocks[0] * plan.blocks[1] * plan.splits).toBe(K === 800 * 64 ? 1976 : 38_000);
    }
  });

  it('the K partition depends on K alone: the same chunks for every M and N', () => {
    for (const K of [4096, 4097, 50_000, 460_800, 9_216_000]) {
      const chunks = new Set([1, 3, 6, 16, 40].flatMap((M) => [1, 7, 25].map((N) => gemmPlan(M, N, K, false).kChunk)));
      expect([...chunks]).toEqual([kparChunk(K)]);
    }
  });
});

// Whether a GEMM runs kpar (a lane-strided sum and a tree) or in the tiled order (main, wide, direct: one fma
// chain per K chunk) must not depend on M: M is the batch of forward and backward-input GEMMs (images × pixels
// for a convolution), and a row's bits must not change with the batch around it. (N, K) of real layers, each
// with its family, for M from 1 to 100,000. Forward: N = outputs, K = fan-in; backward-input: N = inputs, K =
// outputs × taps (per phase at stride 2); weight and filter gradients: N = inputs × taps, K = images × pixels.
const tiledOrder = (k: string) => (k === 'kpar' ? 'kpar' : 'tiled order');
const FAMILIES: [string, number, number, 'kpar' | 'tiled order'][] = [
  ['LeNet conv1 forward (1 → 6, 5×5)', 6, 25, 'tiled order'],
  ['LeNet conv2 forward (6 → 16, 5×5)', 16, 150, 'tiled order'],
  ['LeNet conv2 backward-input', 6, 400, 'tiled order'],
  ['LeNet conv1 backward-input', 1, 150, 'tiled order'],
  ['LeNet fc1 forward (256 → 120)', 120, 256, 'tiled order'],
  ['LeNet fc1 backward-input', 256, 120, 'tiled order'],
  ['oracle LeNet fc forward (192 → 10)', 10, 192, 'tiled order'],
  ['oracle MLP fc1 forward (784 → 64)', 64, 784, 'tiled order'],
  ['oracle MLP fc1 backward-input', 784, 64, 'tiled order'],
  ['oracle MLP fc2 forward (64 → 10)', 10, 64, 'tiled order'],
  ['ResNet-18 conv1 forward (3 → 64, 7×7)', 64, 147, 'tiled order'],
  ['ResNet-18 conv1 backward-input, phase 1,1 (4×4 taps)', 3, 1024, 'tiled order'],
  ['ResNet-18 layer1 forward and backward-input', 64, 576, 'tiled order'],
  ['ResNet-18 layer2.0.conv1 backward-input, 2×2-tap phase', 64, 512, 'tiled order'],
  ['ResNet-18 layer3 forward', 256, 2304, 'tiled order'],
  ['ResNet-18 layer4.0.conv1 forward (256 → 512, stride 2)', 512, 2304, 'tiled order'],
  ['ResNet-18 layer4.0.conv1 backward-input, 2×2-tap phase', 256, 2048, 'tiled order'],
  ['ResNet-18 layer4 forward and backward-input (kpar at n ≤ 6 under the M·N rule)', 512, 4608, 'tiled order'],
  ['ResNet-18 fc forward (512 → 1000)', 1000, 512, 'tiled order'],
  ['ResNet-18 fc backward-input', 512, 1000, 'tiled order'],
  ['VGG-16 conv4_1 backward-input (256 → 512, 3×3: K/N = 18)', 256, 4608, 'tiled order'],
  ['VGG-16 fc6 forward (25,088 → 4,096)', 4096, 25_088, 'tiled order'],
  ['a flatten of 8,192 into 10 classes, forward', 10, 8192, 'kpar'],
  ['LeNet conv1 filter gradient at 800 images', 25, 800 * 576, 'kpar'],
  ['LeNet conv2 filter gradient at 16,000 images', 150, 16_000 * 64, 'kpar'],
  ['oracle MLP fc2 weight gradient at 16,000 images', 64, 16_000, 'kpar'],
  ['ResNet-18 layer2 filter gradient at batch 16', 1152, 16 * 28 * 28, 'tiled order'],
];

describe('GEMM planner: kpar or the tiled order, whatever M', () => {
  const Ms = [1, 2, 3, 4, 5, 7, 16, 63, 64, 100, 127, 128, 300, 1000, 4096, 10_000, 31_337, 100_000];
  it.each(FAMILIES)('%s: N = %i, K = %i → %s', (_what, N, K, family) => {
    for (const M of Ms)
      for (const vecB of [false, N % 4 === 0])
        for (const software of [true, false])
          expect(`${M}: ${tiledOrder(gemmPlan(M, N, K, vecB, { software }).kernel)}`).toBe(`${M}: ${family}`);
    expect(kparFamily(N, K)).toBe(family === 'kpar');
  });

  it('the line is K ≥ 4096 and K ≥ 64·N', () => {
    expect([kparFamily(64, 4095), kparFamily(64, 4096), kparFamily(1, 4096), kparFamily(1, 4095)]).toEqual([
      false,
      true,
      true,
      false,
    ]);
    expect([kparFamily(100, 6399), kparFamily(100, 6400)]).toEqual([false, true]);
  });

  // ResNet-18's filter gradients at 224×224 (M = o, N = c·k², K = images·oh·ow): under the M·N rule every one
  // was tiled (M and N ≥ 64); now those with K ≥ 64·N run kpar, on ≥ 1,000 workgroups.
  it.each([
    ['conv1 (3 → 64, 7×7, 112²)', 64, 147, 112 * 112, 1],
    ['layer1 (64 → 64, 56²)', 64, 576, 56 * 56, 12],
    ['layer2.0.downsample (64 → 128, 1×1, 28²)', 128, 64, 28 * 28, 6],
    ['layer2 (128 → 128, 28²)', 128, 1152, 28 * 28, 95],
    ['layer3.0.downsample (128 → 256, 1×1, 14²)', 256, 128, 14 * 14, 42],
    ['layer4 (512 → 512, 7²)', 512, 4608, 7 * 7, 6019],
  ])('ResNet-18 %s filter gradient: kpar from %i images on', (_what, M, N, pixels, from) => {
    const at = (n: number) => gemmPlan(M, N, n * pixels, false);
    if (from > 1) expect(at(from - 1).kernel).not.toBe('kpar');
    for (const n of [from, from + 1, 4 * from, 100 * from]) {
      const p = at(n);
      expect(p.kernel).toBe('kpar');
      expect(p.blocks[0] * p.blocks[1] * p.splits).toBeGreaterThanOrEqual(1000);
    }
  });
});

// A hardware adapter's plans (the planner as a recording device would drive it: no GPU needed) and
// SwiftShader's: the same kernels and K partitions (wide measured faster than main on SwiftShader too).
const HARDWARE: [
  number,
  number,
  number,
  string,
  'main' | 'wide' | 'direct' | 'kpar',
  [number, number],
  number,
  number,
][] = [
  [4096, 4096, 4096, 'square 4096: 1,024 wide tiles, no split (⌊K/N⌋ = 1)', 'wide', [32, 32], 1, 4096],
  [256, 256, 256, 'square 256', 'wide', [2, 2], 1, 256],
  [128, 128, 64, 'smallest wide GEMM', 'wide', [1, 1], 1, 64],
  [127, 256, 256, 'M = 127: main', 'main', [4, 2], 1, 256],
  [50_176, 64, 576, 'ResNet-18 layer1 forward at batch 16: N = 64, main', 'main', [1, 784], 1, 576],
  [784, 512, 4608, 'ResNet-18 layer4 forward at batch 16: 9 chunks of 512', 'wide', [4, 7], 9, 512],
  [64, 576, 50_176, 'ResNet-18 layer1 filter gradient at batch 16: K ≥ 64·N, kpar', 'kpar', [144, 16], 13, 4096],
  [64, 576, 36_800, 'the same at K just under 64·N: main, ⌊K/N⌋ = 63 chunks → 58 of 640', 'main', [9, 1], 58, 640],
  [
    10,
    512,
    4096,
    'ResNet-18 (10 classes) fc weight gradient at batch 4,096: K < 64·N, direct',
    'direct',
    [128, 3],
    8,
    512,
  ],
  [300, 130, 1500, 'wide with split K: 3 chunks of 512 (the last 476)', 'wide', [2, 3], 3, 512],
  [576, 6, 25, 'LeNet conv1 forward: direct on every adapter', 'direct', [1, 144], 1, 25],
  [1024, 16, 150, 'LeNet conv2 forward at 16 images: one column group of 16', 'direct', [1, 256], 1, 150],
  [100, 11, 12, 'N = 11: one column group of 11', 'direct', [1, 25], 1, 12],
  [6, 25, 460_800, 'LeNet conv1 filter gradient at 800 images: kpar on every adapter', 'kpar', [7, 2], 113, 4096],
];

describe('GEMM planner: hardware and software adapters', () => {
  it.each(HARDWARE)('%i×%i×%i: %s', (M, N, K, _what, kernel, blocks, splits, kChunk) => {
    const hw = gemmPlan(M, N, K, false, { software: false });
    expect({ kernel: hw.kernel, blocks: hw.blocks, splits: hw.splits, kChunk: hw.kChunk }).toEqual({
      kernel,
      blocks,
      splits,
      kChunk,
    });
    if (kernel === 'wide') expect(hw.workgroupSize).toBe(256);
    if (kernel === 'direct' && hw.consts.ALONG_M) expect(hw.consts.R_N).toBe(N); // one column group
    expect(gemmPlan(M, N, K, false, { software: true })).toEqual(hw);
  });

  it('a forced kernel keeps the shape’s K partition (kpar excepted: its own chunks)', () => {
    for (const [M, N, K] of [
      [3, 5, 13],
      [150, 64, 1100],
      [4000, 40, 5000],
    ]) {
      const split = tiledSplit(N, K);
      for (const force of ['main', 'wide', 'direct'] as const) {
        const p = gemmPlan(M, N, K, false, { force, software: false });
        expect(p.kernel).toBe(force);
        expect({ splits: p.splits, kChunk: p.kChunk }).toEqual(split);
      }
      expect(gemmPlan(M, N, K, false, { force: 'kpar' }).kChunk).toBe(kparChunk(K));
    }
  });

  it('the split of main, wide and direct ignores M', () => {
    for (const [N, K] of [
      [1, 1024],
      [7, 3000],
      [64, 1100],
      [512, 4608],
      [2000, 100_000],
    ]) {
      const parts = new Set(
        [1, 5, 64, 200, 5000].flatMap((M) =>
          [true, false].map((software) => {
            const p = gemmPlan(M, N, K, false, { software });
            return p.kernel === 'kpar' ? null : `${p.splits}×${p.kChunk}`;
          }),
        ),
      );
      parts.delete(null);
      expect(parts.size).toBe(1);
      const { splits, kChunk } = tiledSplit(N, K);
      expect(parts.has(`${splits}×${kChunk}`)).toBe(true);
      expect((splits - 1) * kChunk).toBeLessThan(K);
      expect(splits * kChunk).toBeGreaterThanOrEqual(K);
      expect(kChunk % 64 === 0 || splits === 1).toBe(true);
    }
  });
});

describe('direct: the staged weight matrix', () => {
  const off = { STAGE_B: false, STAGE_ROWS: 1, STAGE_GROUPS: 1, STAGE_VPG: 1 };
  it.each([
    [
      'LeNet conv1 forward: 25 taps → 28 rows, 6 columns in 2 vec4',
      576,
      6,
      25,
      true,
      { STAGE_B: true, STAGE_ROWS: 28, STAGE_GROUPS: 1, STAGE_VPG: 2 },
    ],
    [
      'LeNet conv2 forward: 150 → 152 rows, 1 group of 16 in 4 vec4 (9,728 bytes)',
      4096,
      16,
      150,
      true,
      { STAGE_B: true, STAGE_ROWS: 152, STAGE_GROUPS: 1, STAGE_VPG: 4 },
    ],
    [
      'conv into 1 channel: one vec4 per row',
      784,
      1,
      150,
      true,
      { STAGE_B: true, STAGE_ROWS: 152, STAGE_GROUPS: 1, STAGE_VPG: 1 },
    ],
    [
      'N = 11: one group of 11 in 3 vec4 per row',
      500,
      11,
      75,
      true,
      { STAGE_B: true, STAGE_ROWS: 76, STAGE_GROUPS: 1, STAGE_VPG: 3 },
    ],
    ['600 rows × 16 columns would take 38,400 bytes: off', 4096, 16, 600, true, off],
    [
      'groups of 8 forced: 2 groups of 2 vec4 per row (the same 9,728 bytes)',
      4096,
      16,
      150,
      true,
      { STAGE_B: true, STAGE_ROWS: 152, STAGE_GROUPS: 2, STAGE_VPG: 2 },
      8,
    ],
    ['not weights (a dense layer’s B): off', 4096, 16, 150, false, off],
    ['a tiled plan: off', 4096, 64, 150, true, off],
    ['direct without columns along M (M ≤ 4): off', 3, 16, 150, true, off],
  ])('%s', (_what, M, N, K, weights, want, groupColumns?: number) => {
    const o = { software: false, groupColumns: groupColumns === 8 ? (8 as const) : null };
    expect(directStaging(gemmPlan(M, N, K, false, o), N, weights, o)).toEqual(want);
  });

  it('is off by default on software adapters (measured slower on SwiftShader); stageWeights overrides', () => {
    const plan = gemmPlan(576, 6, 25, false);
    expect(directStaging(plan, 6, true)).toEqual(off);
    expect(directStaging(plan, 6, true, { software: true })).toEqual(off);
    expect(directStaging(plan, 6, true, { software: true, stageWeights: true }).STAGE_B).toBe(true);
    expect(directStaging(plan, 6, true, { software: false, stageWeights: false })).toEqual(off);
  });
});
