import { madd } from './simdmath';
import { activation, activationTangent } from './pointwise';

// GEMM for the wasm backend: C[M,N] += op(A)·op(B) (+ bias per column or per row), optionally followed by an
// activation epilogue. A is used in place when stored [M,K], else packed to row-major [M,K]; B is used in place
// when stored [K,N] with N a multiple of 8, else packed to [K,Np] (Np = N rounded up to 8, zero-padded) in a
// caller-given workspace, so one 4×8 register-blocked
// SIMD128 micro-kernel (8 v128 accumulators, load32_splat of A) serves every transpose combination.
// gemmPack packs once; gemmPanel computes any block of rows × columns (columns from a multiple of 8), so
// threads can share one packed B and each output element gets the same instructions however the work is
// split. Nothing here allocates.

/** Copies A (stored [M,K], or [K,M] when transA) to row-major [M,K] at dst. */
function packA(a: usize, M: i32, K: i32, transA: i32, dst: usize): void {
  if (!transA) { memory.copy(dst, a, <usize>(M * K) << 2); return; }
  for (let k = 0; k < K; k++) for (let m = 0; m < M; m++) {
    store<f32>(dst + (<usize>(m * K + k) << 2), load<f32>(a + (<usize>(k * M + m) << 2)));
  }
}

/** Copies B (stored [K,N], or [N,K] when transB) to [K,Np] at dst, the padding columns zero. */
function packB(b: usize, K: i32, N: i32, Np: i32, transB: i32, dst: usize): void {
  packBCols(b, K, N, Np, transB, dst, 0, Np);
}

/** Columns [n0, n1) of packB (those ≥ N zero): a column panel's own part, packed by the thread that reads it. */
function packBCols(b: usize, K: i32, N: i32, Np: i32, transB: i32, dst: usize, n0: i32, n1: i32): void {
  const nv = n1 < N ? n1 : N;
  for (let k = 0; k < K; k++) {
    const row = dst + (<usize>(k * Np) << 2);
    for (let n = n0; n < nv; n++) {
      const v = transB ? load<f32>(b + (<usize>(n * K + k) << 2)) : load<f32>(b + (<usize>(k * N + n) << 2));
      store<f32>(row + (<usize>n << 2), v);
    }
    for (let n = nv > n0 ? nv : n0; n < n1; n++) store<f32>(row + (<usize>n << 2), 0);
  }
}

/** Adds an 8-wide accumulator pair to C[m, n..n+7], storing only the columns < N. */
@inline function storeRow(c: usize, m: i32, n: i32, N: i32, ldc: i32, lo: v128, hi: v128, rowBias: f32, colBias: usize): void {
  const rb = f32x4.splat(rowBias);
  lo = f32x4.add(lo, rb); hi = f32x4.add(hi, rb);
  if (colBias) {
    lo = f32x4.add(lo, v128.load(colBias + (<usize>n << 2)));
    hi = f32x4.add(hi, v128.load(colBias + (<usize>n << 2), 16));
  }
  const p = c + (<usize>(m * ldc + n) << 2);
  if (n + 8 <= N) {
    v128.store(p, f32x4.add(v128.load(p), lo));
    v128.store(p, f32x4.add(v128.load(p, 16), hi), 16);
  } else {
    // Column edge: lane by lane.
    const r = N - n;
    if (r > 0) store<f32>(p, load<f32>(p) + f32x4.extract_lane(lo, 0));
    if (r > 1) store<f32>(p, load<f32>(p, 4) + f32x4.extract_lane(lo, 1), 4);
    if (r > 2) store<f32>(p, load<f32>(p, 8) + f32x4.extract_lane(lo, 2), 8);
    if (r > 3) store<f32>(p, load<f32>(p, 12) + f32x4.extract_lane(lo, 3), 12);
    if (r > 4) store<f32>(p, load<f32>(p, 16) + f32x4.extract_lane(hi, 0), 16);
    if (r > 5) store<f32>(p, load<f32>(p, 20) + f32x4.extract_lane(hi, 1), 20);
    if (r > 6) store<f32>(p, load<f32>(p, 24) + f32x4.extract_lane(hi, 2), 24);
  }
}

/**
 * The activation epilogue of rows [m0, m1) of C (N columns, row stride ldc), while they are in cache:
 * act = kind + 1 (0: none); a = σ(C), or with tz ≠ 0 (the pre-activation, laid out as C) a = σ′(tz)·C.
 */
@inline function epilogue(c: usize, m0: i32, m1: i32, N: i32, ldc: i32, act: i32, beta: f64, a: usize, tz: usize): void {
  if (!act) return;
  for (let m = m0; m < m1; m++) {
    const o = <usize>(m * ldc) << 2;
    if (tz) activationTangent(act - 1, beta, tz + o, c + o, a + o, N);
    else activation(act - 1, beta, c + o, 0, a + o, 0, N);
  }
}

/**
 * Rows of A (stride lda floats) times K rows of packed B, added to C (row stride ldc; with the biases when
 * given). Nothing else is live across its loops: an extra f64 or pointer here (the epilogue's) costs the
 * micro-kernel a register and a quarter of its speed.
 */
function gemmKBlock(pa: usize, pb: usize, c: usize, M: i32, N: i32, K: i32, lda: i32, Np: i32, ldc: i32, rowBias: usize, colBias: usize): void {
  const rowB = <usize>Np << 2;
  let m = 0;
  for (; m + 4 <= M; m += 4) {
    const a0 = pa + (<usize>(m * lda) << 2), a1 = a0 + (<usize>lda << 2), a2 = a1 + (<usize>lda << 2), a3 = a2 + (<usize>lda << 2);
    for (let n = 0; n < N; n += 8) {
      let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
      let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
      let bp = pb + (<usize>n << 2);
      for (let k = 0; k < K; k++) {
        const b0 = v128.load(bp), b1 = v128.load(bp, 16);
        const off = <usize>k << 2;
        const x0 = v128.load32_splat(a0 + off), x1 = v128.load32_splat(a1 + off);
        const x2 = v128.load32_splat(a2 + off), x3 = v128.load32_splat(a3 + off);
        c00 = madd(x0, b0, c00); c01 = madd(x0, b1, c01);
        c10 = madd(x1, b0, c10); c11 = madd(x1, b1, c11);
        c20 = madd(x2, b0, c20); c21 = madd(x2, b1, c21);
        c30 = madd(x3, b0, c30); c31 = madd(x3, b1, c31);
        bp += rowB;
      }
      storeRow(c, m, n, N, ldc, c00, c01, rowBias ? load<f32>(rowBias + (<usize>m << 2)) : 0, colBias);
      storeRow(c, m + 1, n, N, ldc, c10, c11, rowBias ? load<f32>(rowBias + (<usize>(m + 1) << 2)) : 0, colBias);
      storeRow(c, m + 2, n, N, ldc, c20, c21, rowBias ? load<f32>(rowBias + (<usize>(m + 2) << 2)) : 0, colBias);
      storeRow(c, m + 3, n, N, ldc, c30, c31, rowBias ? load<f32>(rowBias + (<usize>(m + 3) << 2)) : 0, colBias);
    }
  }
  // Row edge: a 1×8 kernel.
  for (; m < M; m++) {
    const a0 = pa + (<usize>(m * lda) << 2);
    for (let n = 0; n < N; n += 8) {
      let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
      let bp = pb + (<usize>n << 2);
      for (let k = 0; k < K; k++) {
        const x0 = v128.load32_splat(a0 + (<usize>k << 2));
        c00 = madd(x0, v128.load(bp), c00);
        c01 = madd(x0, v128.load(bp, 16), c01);
        bp += rowB;
      }
      storeRow(c, m, n, N, ldc, c00, c01, rowBias ? load<f32>(rowBias + (<usize>m << 2)) : 0, colBias);
    }
  }
}


/** K-block of gemmPacked: a 4×KC block of A (4 KiB) stays in L1 and a KC×Np block of B in L2 across a call. */
const KC = 256;

/**
 * C[M,N] += A·B with A [M,K] (row stride lda), B packed [K,Np], C of row stride ldc; rowBias [M] and
 * colBias (readable to the next multiple of 8 columns; 0 = none); then the epilogue (see epilogue()).
 */
function gemmCore(pa: usize, lda: i32, pb: usize, c: usize, M: i32, N: i32, K: i32, Np: i32, ldc: i32, rowBias: usize, colBias: usize,
  act: i32, beta: f64, aOut: usize, tz: usize): void {
  // Long K in blocks of KC, each block's partial sums added to C (the biases with the first). With an
  // epilogue, panels of MC rows run all their K blocks and then the epilogue, while the panel is in cache;
  // each element's sum is the same either way (its K blocks in order).
  const MC = act ? 16 : M;
  for (let m0 = 0; m0 < M || m0 == 0; m0 += MC) {
    const rows = M - m0 < MC ? M - m0 : MC;
    const a = pa + (<usize>(m0 * lda) << 2), cm = c + (<usize>(m0 * ldc) << 2), rb = rowBias ? rowBias + (<usize>m0 << 2) : 0;
    for (let k0 = 0; k0 < K || k0 == 0; k0 += KC) {
      const kn = K - k0 < KC ? K - k0 : KC;
      gemmKBlock(a + (<usize>k0 << 2), pb + (<usize>(k0 * Np) << 2), cm, rows, N, kn, lda, Np, ldc, k0 == 0 ? rb : 0, k0 == 0 ? colBias : 0);
    }
    epilogue(c, m0, m0 + rows, N, ldc, act, beta, aOut, tz);
    if (M == 0) break;
  }
}

/**
 * C[M,N] += A·B with A packed [M,K], B packed [K,Np]. rowBias [M] and colBias [Np] (padded; 0 = none).
 * The column bias must be readable to Np; the caller pads it in the workspace.
 */
export function gemmPacked(pa: usize, pb: usize, c: usize, M: i32, N: i32, K: i32, Np: i32, rowBias: usize, colBias: usize): void {
  gemmCore(pa, K, pb, c, M, N, K, Np, N, rowBias, colBias, 0, 0, 0, 0);
}

/** Workspace bytes gemm needs: packed A, packed B and the padded column bias. */
export function gemmWorkspaceBytes(M: i32, N: i32, K: i32): i32 {
  const Np = (N + 7) & ~7;
  return (M * K + K * Np + Np) * 4 + 64;
}

/** Whether B is used in place: stored [K,N] with N a multiple of 8 is already the packed layout. */
@inline function bInPlace(N: i32, transB: i32): bool {
  return !transB && (N & 7) == 0;
}

/**
 * Packs op(A) (only when transA: else A is used in place), op(B) (with withB, unless bInPlace; else column
 * panels pack their own part, see gemmPanel) and the padded column bias into `ws` (gemmWorkspaceBytes), for
 * gemmPanel calls that share them.
 */
export function gemmPack(a: usize, b: usize, M: i32, N: i32, K: i32, transA: i32, transB: i32, colBias: usize, ws: usize, withB: i32): void {
  const Np = (N + 7) & ~7;
  const pa = ws, pb = pa + (<usize>(M * K) << 2), pbias = pb + (<usize>(K * Np) << 2);
  if (transA) packA(a, M, K, 1, pa);
  if (withB && !bInPlace(N, transB)) packB(b, K, N, Np, transB, pb);
  if (colBias) {
    memory.copy(pbias, colBias, <usize>N << 2);
    memory.fill(pbias + (<usize>N << 2), 0, <usize>(Np - N) << 2);
  }
}

/**
 * Rows [m0, m1) × columns [n0, n1) (n0 a multiple of 8) of gemm on a workspace filled by gemmPack (packOwn:
 * but for B's columns [n0, n1), packed here; gemmPack then ran without B): C += A·B +
 * biases, then act ≠ 0: aOut = σ(C) (kind act − 1, pointwise.ts codes), or with tz ≠ 0 aOut = σ′(tz)·C; aOut
 * and tz laid out as C [M,N]; zero ≠ 0: C starts from zero (its block is cleared first). `a`, `b` are A and B themselves (used in place when !transA, bInPlace). Every element's sum runs in the same order
 * (the K blocks, then k within each) whatever the block, so any split of the rows and columns among threads
 * gives bitwise the result of one call on the whole.
 */
export function gemmPanel(a: usize, b: usize, c: usize, M: i32, N: i32, K: i32, transA: i32, transB: i32, colBias: usize, ws: usize,
  packOwn: i32, m0: i32, m1: i32, n0: i32, n1: i32, act: i32, beta: f64, aOut: usize, tz: usize, zero: i32): void {
  const Np = (N + 7) & ~7;
  // A fresh C is zeroed here, panel by panel on the thread that fills it, not by the host before the split.
  if (zero) {
    if (n0 == 0 && n1 == N) memory.fill(c + (<usize>(m0 * N) << 2), 0, <usize>((m1 - m0) * N) << 2);
    else for (let m = m0; m < m1; m++) memory.fill(c + (<usize>(m * N + n0) << 2), 0, <usize>(n1 - n0) << 2);
  }
  const pa = transA ? ws : a, pw = ws + (<usize>(M * K) << 2), pbias = pw + (<usize>(K * Np) << 2);
  const inPlace = bInPlace(N, transB);
  // A column panel reads only its own columns of packed B: it packs them itself (the last panel the padding too).
  if (packOwn && !inPlace) packBCols(b, K, N, Np, transB, pw, n0, n1 == N ? Np : n1);
  const pb = inPlace ? b : pw;
  const at = <usize>(m0 * N + n0) << 2;
  gemmCore(pa + (<usize>(m0 * K) << 2), K, pb + (<usize>n0 << 2), c + at, m1 - m0, n1 - n0, K, Np, N, 0, colBias ? pbias + (<usize>n0 << 2) : 0,
    act, beta, aOut ? aOut + at : 0, tz ? tz + at : 0);
}

/** C[M,N] += op(A)·op(B) + colBias[N] (0 = none) + rowBias[M] (0 = none), using `ws` as workspace. */
export function gemm(a: usize, b: usize, c: usize, M: i32, N: i32, K: i32, transA: i32, transB: i32, colBias: usize, rowBias: usize, ws: usize): void {
  const Np = (N + 7) & ~7;
  const pw = ws + (<usize>(M * K) << 2), pbias = pw + (<usize>(K * Np) << 2);
  gemmPack(a, b, M, N, K, transA, transB, colBias, ws, 1);
  gemmCore(transA ? ws : a, K, bInPlace(N, transB) ? b : pw, c, M, N, K, Np, N, rowBias, colBias ? pbias : 0, 0, 0, 0, 0);
}
