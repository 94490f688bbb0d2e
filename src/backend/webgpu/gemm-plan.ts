// The GEMM planner: how a GEMM of a given shape runs (which kernel, thread blocks, split-K). A pure function of
// the shape, exported inside the package so that tests pin the plan each shape gets (test/gemm-plan.test.ts).
import { WIDE } from './kernels/gemm-wide.js';
import { WORKGROUP } from './prelude.js';

/**
 * How a GEMM of shape M×N×K runs. Which kernel may depend on the adapter (and a caller may force one), but
 * every kernel sums each element of C in the same order given the same K partition, and the partition is a
 * function of the shape alone: `main`, `wide` and `direct` share tiledSplit(N, K), which never reads M (a
 * dense layer's M is its batch, so a row's sums must not change with the chunking of a call); kpar's is
 * kparChunk(K). Results change with the kernel only where kpar (a lane-strided sum and a tree) takes over,
 * and whether it does is kparFamily(N, K), never M: a row gets the same bits at every batch size.
 *
 * Kernel (gemm.wgsl, and kernels/gemm-wide.ts for `wide`):
 *  - `main`, 64×64 tiles staged in workgroup memory, 4×4 outputs per thread, when M, N and K are all ≥ 64.
 *    Only there does a tile share each staged value among 16 threads across at least four K tiles, which is
 *    what GPUs need workgroup memory for. Each K tile costs two barriers, which some adapters pay dearly
 *    (SwiftShader: 2 barriers per 32 k-steps made a naive 256³ GEMM 17× slower).
 *  - `wide`, 128×128 tiles, 8×8 outputs per thread, double-buffered with one barrier per tile (see
 *    gemm-wide.ts), instead of `main` when M and N are both ≥ 128, on every adapter: built for GPUs' large
 *    GEMMs, and measured 1.4–1.6× faster than `main` on SwiftShader too (bench:gpu kernels, README).
 *  - `direct` (no workgroup memory, no barrier) for everything else. A thin side (N ≤ 16, e.g. a conv with
 *    1–16 output channels, or M ≤ 4, a dense layer at batch 1) would leave most of a 64-wide tile idle,
 *    and with a short K or a narrow output the staged values are shared so little that the caches give the
 *    same reuse. Measured on SwiftShader, direct is 2–15× faster than the tiled kernel on every oracle
 *    LeNet/MLP GEMM (and ~1.6× on square 256–512, which stay tiled for GPUs' sake).
 * Thread blocks of `direct`: M ≤ 4: R_M = M rows × 4 columns (GEMV-like); else N ≤ 16: 4 rows × R_N
 * columns held along M, so each gathered im2col value of A serves every output channel of its column
 * group: one group of all N ≤ 16 (directGroupColumns: 64 accumulators; a caller may force groups of ≤ 8,
 * two for N = 9..16, each loading A); else 4 rows × 4 columns. Each element of C sums the same k in the same
 * order in every grouping: only which thread computes it changes.
 *  - `kpar` (K-parallel), before all of the above, when K ≥ KPAR_MIN_K and K ≥ 64·N (kparFamily, which
 *    says why 64): conv filter gradients and dense weight gradients at large batch, whose K is images ×
 *    pixels. The tiled order would give each of a few hundred threads 10³–10⁵ serial k steps; a large GPU
 *    wants ≥ 10⁴ threads in flight. One workgroup of 64 lanes per 4×4 block of C and chunk of K (lanes on
 *    consecutive k, a fixed tree), the chunks added by `splitk_tree`.
 * Split-K (an extra dispatch and a partial buffer): see tiledSplit (main, wide, direct) and kparChunk.
 */
export type GemmKernel = 'main' | 'wide' | 'direct' | 'kpar';

export interface GemmPlan {
  kernel: GemmKernel;
  consts: Record<string, number | boolean>; // TILE_M/N/K (main), R_M, R_N, ALONG_M (direct); none for wide, kpar
  splits: number;
  kChunk: number; // K range per split: a multiple of TILED_SPLIT_ALIGN (main, wide, direct) or of KPAR_LANES
  /** Blocks of C along N and along M: tiles (main, wide), thread blocks (direct) or 4×4 workgroup blocks (kpar). */
  blocks: [number, number];
  /** Threads per workgroup: 256 for the tiled kernels, else 64. */
  workgroupSize: number;
}

/** What the kernel choice may depend on besides the shape; none of it changes a K partition. */
export interface GemmPlanOptions {
  /**
   * A software adapter (SwiftShader, llvmpipe, WARP) or a hardware GPU: direct stages convolution weights in
   * workgroup memory on hardware only (measured slower on SwiftShader; directStaging). Default: software.
   */
  software?: boolean;
  /** Run this kernel whatever the shape (tests and benches compare kernels on one shape). */
  force?: GemmKernel | null;
  /** Whether direct stages a convolution's weights, overriding the adapter's default (benches and tests compare; the sums are the same). */
  stageWeights?: boolean | null;
  /** The widest column group of direct, 8 or 16 (default 16: directGroupColumns); benches and tests compare. */
  groupColumns?: 8 | 16 | null;
  /** Whether kpar's chunks are added by the 64-lane tree, overriding kparTreeSum's choice (the bits are the same). */
  chunkSumTree?: boolean | null;
}

/**
 * The widest column group of `direct` with columns along M (N ≤ 16): 16 on every adapter unless forced. A
 * thread then holds 4 rows × 16 columns, 64 accumulators (16 vec4), plus a 4×4 block of A and up to four of
 * B per k step, ~150 registers: under the 255 a GPU thread may have (at some cost in occupancy, unmeasured:
 * no GPU was at hand), and every gathered value of A, the im2col element a convolution pays index
 * arithmetic for, is loaded once instead of once per group of 8. On SwiftShader one group measured 1.04–2.16×
 * the speed of groups of ≤ 8 on convolutions into 12 and 16 channels and 0.94–1.28× on a dense layer into
 * 10 (bench:gpu --only kernels, two runs, README), so it has one group too.
 */
export function directGroupColumns(o: GemmPlanOptions): 8 | 16 {
  return o.groupColumns ?? 16;
}

/** `vecBAlongN`: B is read as vec4 along N, so a thread's first column must be a multiple of 4. */
export function gemmPlan(M: number, N: number, K: number, vecBAlongN: boolean, o: GemmPlanOptions = {}): GemmPlan {
  const tiled = M >= 64 && N >= 64 && K >= 64;
  let R_M = 4,
    R_N = 4,
    ALONG_M = false;
  if (M <= 4) R_M = M;
  else if (N <= 16) {
    const widest = directGroupColumns(o);
    R_N = Math.ceil(N / Math.ceil(N / widest)); // one group of N ≤ widest columns, or two even ones
    if (vecBAlongN) R_N = Math.ceil(R_N / 4) * 4;
    ALONG_M = true;
  }
  const directBlocks: [number, number] = [Math.ceil(N / R_N), Math.ceil(M / R_M)];
  let kernel: GemmKernel = o.force ?? 'direct';
  if (!o.force) {
    if (kparFamily(N, K)) kernel = 'kpar';
    else if (tiled) kernel = M >= 128 && N >= 128 ? 'wide' : 'main';
  }
  if (kernel === 'kpar') {
    const kChunk = kparChunk(K);
    return {
      kernel,
      consts: {},
      blocks: [Math.ceil(N / 4), Math.ceil(M / 4)],
      workgroupSize: KPAR_LANES,
      splits: Math.max(1, Math.ceil(K / kChunk)),
      kChunk,
    };
  }
  const split = tiledSplit(N, K);
  if (kernel === 'main')
    return {
      kernel,
      consts: { TILE_M: 64, TILE_N: 64, TILE_K: 16 },
      blocks: [Math.ceil(N / 64), Math.ceil(M / 64)],
      workgroupSize: (64 / 4) * (64 / 4),
      ...split,
    };
  if (kernel === 'wide')
    return {
      kernel,
      consts: {},
      blocks: [Math.ceil(N / WIDE.tileN), Math.ceil(M / WIDE.tileM)],
      workgroupSize: WIDE.threads,
      ...split,
    };
  return {
    kernel,
    consts: { R_M, R_N, ALONG_M },
    blocks: directBlocks,
    workgroupSize: WORKGROUP.gemmDirect,
    ...split,
  };
}

/** The shortest K that tiledSplit cuts, the shortest chunk, and the chunks' alignment (every kernel's k step). */
export const TILED_SPLIT_MIN_K = 1024;
export const TILED_SPLIT_CHUNK = 512;
export const TILED_SPLIT_ALIGN = 64;
/** The most K chunks of main, wide and direct. */
export const TILED_MAX_SPLITS = 64;

/**
 * The K partition of main, wide and direct: K ≥ TILED_SPLIT_MIN_K is cut into ⌈K/512⌉ chunks (so a GPU has
 * more workgroups on long-K products), but at most ⌊K/N⌋ of them, so that the partials ([splits, M, N])
 * never outgrow A ([M, K]) whatever M is; chunks are a multiple of 64 long (of every kernel's k step), the
 * last one shorter. A function of N and K, never of M or the adapter: a row of C sums the same chunks in
 * the same order for every batch size and every kernel.
 */
export function tiledSplit(N: number, K: number): { splits: number; kChunk: number } {
  if (K < TILED_SPLIT_MIN_K) return { splits: 1, kChunk: K };
  const want = Math.min(Math.ceil(K / TILED_SPLIT_CHUNK), Math.floor(K / Math.max(1, N)), TILED_MAX_SPLITS);
  if (want <= 1) return { splits: 1, kChunk: K };
  const kChunk = Math.ceil(Math.ceil(K / want) / TILED_SPLIT_ALIGN) * TILED_SPLIT_ALIGN;
  return { splits: Math.ceil(K / kChunk), kChunk };
}

/** The most workgroup memory that direct's staged B may take (WebGPU's default limit is 16 KiB). */
export const STAGE_MAX_BYTES = 16 * 1024;

/**
 * The constants of direct's staged B (gemm.wgsl stageB) for a plan on an N-column B: staged when the plan is
 * direct with columns along M (a convolution's ≤ 16 output channels) and the K chunk of B, rounded up to 4
 * rows of whole vec4 column groups, fits in STAGE_MAX_BYTES; otherwise off (arrays of one element).
 * `weights`: B is a small matrix every workgroup reads whole (a convolution's weights), not data. On by
 * default on hardware adapters only: on SwiftShader (a CPU, where workgroup memory is ordinary memory and a
 * barrier switches every invocation) it measured 0.6–1.2× the unstaged speed on LeNet's convolutions.
 */
export function directStaging(
  plan: GemmPlan,
  N: number,
  weights: boolean,
  o: GemmPlanOptions = {},
): Record<string, number | boolean> {
  const off = { STAGE_B: false, STAGE_ROWS: 1, STAGE_GROUPS: 1, STAGE_VPG: 1 };
  const wanted = o.stageWeights ?? o.software === false;
  if (!weights || !wanted || plan.kernel !== 'direct' || plan.consts.ALONG_M !== true) return off;
  const rn = plan.consts.R_N as number;
  const rows = Math.max(4, Math.ceil(plan.kChunk / 4) * 4),
    groups = Math.ceil(N / rn),
    vpg = Math.ceil(rn / 4);
  if (rows * groups * vpg * 16 > STAGE_MAX_BYTES) return off;
  return { STAGE_B: true, STAGE_ROWS: rows, STAGE_GROUPS: groups, STAGE_VPG: vpg };
}

/** Lanes of a K-parallel workgroup (kpar, channel sums): fixed, because the order of every sum depends on it. */
export const KPAR_LANES = 64;
/** The shortest K that kpar takes: one chunk of 64 k per lane. */
export const KPAR_MIN_K = 4096;
/** kpar takes a GEMM whose K is at least this many times N (kparFamily): where tiledSplit stops at its cap. */
export const KPAR_MIN_K_PER_COLUMN = TILED_MAX_SPLITS;

/**
 * Whether a GEMM runs K-parallel (kpar) rather than in the tiled order (main, wide, direct): K ≥ KPAR_MIN_K
 * and K ≥ KPAR_MIN_K_PER_COLUMN·N. A function of N and K only: M is often a batch (dense forward, conv
 * forward and backward-input, where M = images × pixels), and kpar sums in another order than the tiled
 * kernels, so a choice that read M would change a row's float32 bits with the size of the batch around it.
 *
 * Why 64·N (KPAR_MIN_K_PER_COLUMN = TILED_MAX_SPLITS). kpar is for long-K, small-output products: filter
 * and weight gradients, K = images × pixels. At K ≥ 64·N the tiled order's split is no longer limited by N
 * (⌊K/N⌋ ≥ 64: tiledSplit cuts min(⌈K/512⌉, 64) chunks), so at a small M it runs ⌈N/4⌉ column blocks ×
 * ≤ 64 chunks, few threads (N ≤ K/64), each walking ≥ K/64 k, a walk that grows with the batch past K =
 * 32,768: LeNet conv1's filter gradient at 800 images (6×25×460,800) gets 14 blocks × 64 chunks of 7,200 k,
 * where kpar runs 14 × 113 workgroups of 64 lanes walking 64 k each. Below the line N is large against K: the
 * tiled order has ⌈N/4⌉ > K/256 column blocks, and its chunks, ⌊K/N⌋ or ⌈K/512⌉ of them, stay under
 * max(1024, 2N + 64) k, however long K is. Forward and backward-input GEMMs stay below the line: their K/N
 * is a layer's fan-in over its fan-out, ≤ 18 for 3×3 convolutions that change the width up to 2× (ResNet-18's
 * largest, layer4: 4,608/512 = 9), ≤ 50 for 5×5 ones, 49 for a 7×7 that keeps the width, ~6 for VGG's
 * flatten→fc; at every batch size they keep the tiled kernels' operand reuse (kpar's 4×4 blocks read 8
 * values per 16 FMAs, like direct's). A forward GEMM reaches kpar only with K ≥ 64·N, e.g. 8,192 features
 * into 10 classes, where N < 64 keeps it off the tiled kernels anyway and kpar reads A as often as direct's
 * 4-column blocks do. The line is not measured on a GPU (none was at hand).
 */
export function kparFamily(N: number, K: number): boolean {
  return K >= KPAR_MIN_K && K >= KPAR_MIN_K_PER_COLUMN * N;
}
/** The most chunks a kpar GEMM is cut into (so the partials, [splits, M, N], stay small). */
export const KPAR_MAX_SPLITS = 256;

/** The most K chunks of kpar that one thread adds (`splitk`) instead of a 64-lane workgroup (`splitk_tree`). */
export const KPAR_SERIAL_MAX_SPLITS = 8;

/**
 * Whether kpar's chunks are added by splitk_tree (a workgroup of 64 lanes per element of C) rather than by
 * splitk (one thread per element, adding them in order). Up to 8 chunks the tree's order is the serial one:
 * lane l < 8 holds 0 + p_l, lane 0 adds lanes 0..7 in order and then the empty groups, and adding +0 changes
 * no sum that starts from +0, so both give the same bits (test/kpar.test.ts) and the thread per element is
 * the cheaper: since kpar runs at any M, C may have millions of elements. A function of K (through the
 * split count); `chunkSumTree` forces either (tests compare).
 */
export function kparTreeSum(splits: number, o: GemmPlanOptions = {}): boolean {
  return o.chunkSumTree ?? splits > KPAR_SERIAL_MAX_SPLITS;
}

/**
 * The K range of one kpar workgroup: at least KPAR_MIN_K, and long enough that K is cut into at most
 * KPAR_MAX_SPLITS chunks, a multiple of KPAR_LANES. A function of K alone: the partition (hence every
 * float32 sum) is the same on every adapter and for every M and N.
 */
export function kparChunk(K: number): number {
  return Math.max(KPAR_MIN_K, Math.ceil(Math.ceil(K / KPAR_MAX_SPLITS) / KPAR_LANES) * KPAR_LANES);
}

/** How a channel sum (out[c] = Σ_{n,s} t[n,c,s]) is cut: chunks of `chunk` of its K = n·spatial values. */
export interface ChannelSumPlan {
  chunk: number;
  chunks: number;
}

/** Shortest chunk of a channel sum (16 values per lane) and the most chunks per channel. */
export const CHANNEL_SUM_MIN_CHUNK = 1024;
export const CHANNEL_SUM_MAX_CHUNKS = 1024;

/**
 * A channel sum over K values per channel: chunks of at least CHANNEL_SUM_MIN_CHUNK (a multiple of
 * KPAR_LANES), at most CHANNEL_SUM_MAX_CHUNKS of them; a function of K alone, like kparChunk.
 */
export function channelSumPlan(K: number): ChannelSumPlan {
  const chunk = Math.max(
    CHANNEL_SUM_MIN_CHUNK,
    Math.ceil(Math.ceil(K / CHANNEL_SUM_MAX_CHUNKS) / KPAR_LANES) * KPAR_LANES,
  );
  return { chunk, chunks: Math.max(1, Math.ceil(K / chunk)) };
}
