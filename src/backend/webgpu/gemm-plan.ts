// The GEMM planner: how a GEMM of a given shape runs (which kernel, thread blocks, split-K). A pure function of
// the shape, exported inside the package so that tests pin the plan each shape gets (test/gemm-plan.test.ts).
import { WORKGROUP } from './prelude.js';

/**
 * How a GEMM of shape M×N×K runs: a deterministic function of the shape (never of the adapter), so every
 * device computes the same sums in the same order.
 *
 * Kernel (gemm.wgsl):
 *  - `main`, 64×64 tiles staged in workgroup memory, when M, N and K are all ≥ 64. Only there does a tile
 *    share each staged value among 16 threads across at least four K tiles, which is what GPUs need
 *    workgroup memory for. Each K tile costs two barriers, which some adapters pay dearly (SwiftShader:
 *    2 barriers per 32 k-steps made a naive 256³ GEMM 17× slower).
 *  - `direct` (no workgroup memory, no barrier) for everything else. A thin side (N ≤ 16, e.g. a conv with
 *    1–16 output channels, or M ≤ 4, a dense layer at batch 1) would leave most of a 64-wide tile idle,
 *    and with a short K or a narrow output the staged values are shared so little that the caches give the
 *    same reuse. Measured on SwiftShader, direct is 2–15× faster than the tiled kernel on every oracle
 *    LeNet/MLP GEMM (and ~1.6× on square 256–512, which stay tiled for GPUs' sake).
 * Thread blocks of `direct`: M ≤ 4: R_M = M rows × 4 columns (GEMV-like); else N ≤ 16: 4 rows × R_N ≤ 8
 * columns held along M (one or two column groups, so each gathered im2col value of A serves every
 * output channel of its group); else 4 rows × 4 columns.
 *  - `kpar` (K-parallel) instead of `direct` when K ≥ KPAR_MIN_K and direct would run fewer than
 *    KPAR_MAX_THREADS threads: conv filter gradients and dense weight gradients at large batch, whose C is a
 *    few thousand values and whose K is images × pixels. Direct would give each of a few hundred threads
 *    10⁴–10⁵ serial k steps; a large GPU wants ≥ 10⁴ threads in flight. One workgroup of 64 lanes per 4×4
 *    block of C and chunk of K (lanes on consecutive k, a fixed tree), the chunks added by `splitk_tree`.
 * Split-K (an extra dispatch and a partial buffer, so only when the K loop is long and the grid small):
 * tiled, when fewer than 128 tiles (32,768 threads) and K ≥ 512; kpar, whenever K is longer than one chunk
 * (kparChunk: a function of K alone, so a sum never depends on M, N or the adapter).
 */
export interface GemmPlan {
  kernel: 'main' | 'direct' | 'kpar';
  consts: Record<string, number | boolean>; // TILE_M/N/K, or R_M, R_N, ALONG_M (none for kpar)
  splits: number;
  kChunk: number; // K range per split, a multiple of TILE_K (tiled), of 4 (direct) or of KPAR_LANES (kpar)
  /** Blocks of C along N and along M: tiles (tiled), thread blocks (direct) or 4×4 workgroup blocks (kpar). */
  blocks: [number, number];
  /** Threads per workgroup: (TILE_M/4)·(TILE_N/4) for the tiled kernel (one 4×4 block each), else 64. */
  workgroupSize: number;
}

/** `vecBAlongN`: B is read as vec4 along N, so a thread's first column must be a multiple of 4. */
export function gemmPlan(M: number, N: number, K: number, vecBAlongN: boolean): GemmPlan {
  // Split K into chunks of at least `chunkMin` (a multiple of `align`) when fewer than `minBlocks` blocks of C
  // would run a K loop of at least `minK`.
  const split = (blocks: number, minBlocks: number, minK: number, chunkMin: number, align: number) => {
    const splits =
      blocks < minBlocks && K >= minK ? Math.min(Math.ceil(minBlocks / blocks), Math.floor(K / chunkMin), 64) : 1;
    if (splits <= 1) return { splits: 1, kChunk: K };
    const kChunk = Math.ceil(Math.ceil(K / splits) / align) * align;
    return { splits: Math.ceil(K / kChunk), kChunk };
  };
  if (M >= 64 && N >= 64 && K >= 64) {
    const blocks: [number, number] = [Math.ceil(N / 64), Math.ceil(M / 64)];
    return {
      kernel: 'main',
      consts: { TILE_M: 64, TILE_N: 64, TILE_K: 16 },
      blocks,
      workgroupSize: (64 / 4) * (64 / 4),
      ...split(blocks[0] * blocks[1], 128, 512, 256, 16),
    };
  }
  let R_M = 4,
    R_N = 4,
    ALONG_M = false;
  if (M <= 4) R_M = M;
  else if (N <= 16) {
    R_N = Math.ceil(N / Math.ceil(N / 8)); // one group of N ≤ 8 columns, or two even ones
    if (vecBAlongN) R_N = Math.ceil(R_N / 4) * 4;
    ALONG_M = true;
  }
  const blocks: [number, number] = [Math.ceil(N / R_N), Math.ceil(M / R_M)];
  if (K >= KPAR_MIN_K && blocks[0] * blocks[1] < KPAR_MAX_THREADS) {
    const kChunk = kparChunk(K);
    return {
      kernel: 'kpar',
      consts: {},
      blocks: [Math.ceil(N / 4), Math.ceil(M / 4)],
      workgroupSize: KPAR_LANES,
      splits: Math.ceil(K / kChunk),
      kChunk,
    };
  }
  return {
    kernel: 'direct',
    consts: { R_M, R_N, ALONG_M },
    blocks,
    workgroupSize: WORKGROUP.gemmDirect,
    splits: 1,
    kChunk: K,
  };
}

/** Lanes of a K-parallel workgroup (kpar, channel sums): fixed, because the order of every sum depends on it. */
export const KPAR_LANES = 64;
/** The shortest K that kpar takes: one chunk of 64 k per lane. */
export const KPAR_MIN_K = 4096;
/** kpar replaces direct below this many direct threads: what a large GPU needs in flight. */
export const KPAR_MAX_THREADS = 10_000;
/** The most chunks a kpar GEMM is cut into (so the partials, [splits, M, N], stay small). */
export const KPAR_MAX_SPLITS = 256;

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
