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
 * Split-K (an extra dispatch and a partial buffer, so only when the K loop is long and the grid small):
 * tiled, when fewer than 128 tiles and K ≥ 512; direct, when fewer than 256 threads and K ≥ 4096 (conv
 * filter gradients at large batch), in chunks of at least 1024.
 */
export interface GemmPlan {
  kernel: 'main' | 'direct';
  consts: Record<string, number | boolean>; // TILE_M/N/K, or R_M, R_N, ALONG_M
  splits: number;
  kChunk: number; // K range per split, a multiple of TILE_K (tiled) or of 4 (direct)
  blocks: [number, number]; // blocks of C along N and along M: tiles (tiled) or thread blocks (direct)
  /** Threads per workgroup: (TILE_M/4)·(TILE_N/4) for the tiled kernel (one 4×4 block each), else the direct size. */
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
  return {
    kernel: 'direct',
    consts: { R_M, R_N, ALONG_M },
    blocks,
    workgroupSize: WORKGROUP.gemmDirect,
    ...split(blocks[0] * blocks[1], 256, 4096, 1024, 4),
  };
}
