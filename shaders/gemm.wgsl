//! section main
// Tiled GEMM C[M,N] = A[M,K]·B[K,N], shared by dense and by the three conv2d passes (implicit GEMM); the
// `direct` section below is its barrier-free sibling for thin or small products (webgpu.ts gemmPlan picks).
// The variant supplies loadA(m, k) and loadB(k, n) (called only inside the matrix), their four-wide
// loadA4/loadB4 (four neighbours along the operand's fast dimension), storeC(m, n, value), and the
// constants TILE_M, TILE_N, TILE_K, A_K_FAST, B_K_FAST, VEC_A, VEC_B, SPLIT_K.
// Each workgroup stages a TILE_M×TILE_K slice of A and a TILE_K×TILE_N slice of B in workgroup memory as
// vec4 rows; each thread owns a contiguous 4×4 block of C held in four vec4 accumulators, so the inner
// step is four vec4 FMAs on one vec4 of A and one of B, with no private arrays (which software adapters
// and some drivers spill to memory). With SPLIT_K, workgroup z sums only u.kChunk of K into `partial`,
// and the splitk kernel below adds the slices and stores.
const WG_X: u32 = TILE_N / 4u;
const WG_Y: u32 = TILE_M / 4u;
const THREADS: u32 = WG_X * WG_Y;
// The host launches and sizes this kernel by WORKGROUP_SIZE (gemm-plan.ts workgroupSize): they must agree.
const_assert THREADS == WORKGROUP_SIZE;

var<workgroup> tileA: array<vec4f, TILE_K * TILE_M / 4u>; // [k][m/4], rows m..m+3 in one vec4
var<workgroup> tileB: array<vec4f, TILE_K * TILE_N / 4u>; // [k][n/4]

// Cooperative tile loads, ordered so that consecutive threads touch consecutive addresses of the source
// (its fast dimension). With VEC_A / VEC_B each thread moves four neighbours along that dimension with one
// vec4 load; the host enables it only when that dimension is a multiple of 4, so a vector is never split
// by the matrix edge.
fn loadTileA(tid: u32, m0: u32, k0: u32, kEnd: u32) {
  if (VEC_A) {
    for (var i = tid; i < TILE_M * TILE_K / 4u; i += THREADS) {
      var mm = (i % (TILE_M / 4u)) * 4u;
      var kk = i / (TILE_M / 4u);
      if (A_K_FAST) { mm = i / (TILE_K / 4u); kk = (i % (TILE_K / 4u)) * 4u; }
      var v = vec4f(0.0);
      if (m0 + mm < u.M && k0 + kk < kEnd) { v = loadA4(m0 + mm, k0 + kk); }
      if (A_K_FAST) {
        let slot = mm / 4u;
        let lane = mm % 4u;
        tileA[kk * (TILE_M / 4u) + slot][lane] = v.x;
        tileA[(kk + 1u) * (TILE_M / 4u) + slot][lane] = v.y;
        tileA[(kk + 2u) * (TILE_M / 4u) + slot][lane] = v.z;
        tileA[(kk + 3u) * (TILE_M / 4u) + slot][lane] = v.w;
      } else {
        tileA[kk * (TILE_M / 4u) + mm / 4u] = v;
      }
    }
    return;
  }
  // Gathered operands: each thread fetches four row-neighbours at one k and stores a whole vec4 slot.
  for (var i = tid; i < TILE_M * TILE_K / 4u; i += THREADS) {
    let mm = (i % (TILE_M / 4u)) * 4u;
    let kk = i / (TILE_M / 4u);
    let k = k0 + kk;
    var v = vec4f(0.0);
    if (k < kEnd) {
      for (var j = 0u; j < 4u; j++) {
        if (m0 + mm + j < u.M) { v[j] = loadA(m0 + mm + j, k); }
      }
    }
    tileA[kk * (TILE_M / 4u) + mm / 4u] = v;
  }
}

fn loadTileB(tid: u32, n0: u32, k0: u32, kEnd: u32) {
  if (VEC_B) {
    for (var i = tid; i < TILE_N * TILE_K / 4u; i += THREADS) {
      var nn = (i % (TILE_N / 4u)) * 4u;
      var kk = i / (TILE_N / 4u);
      if (B_K_FAST) { nn = i / (TILE_K / 4u); kk = (i % (TILE_K / 4u)) * 4u; }
      var v = vec4f(0.0);
      if (n0 + nn < u.N && k0 + kk < kEnd) { v = loadB4(k0 + kk, n0 + nn); }
      if (B_K_FAST) {
        let slot = nn / 4u;
        let lane = nn % 4u;
        tileB[kk * (TILE_N / 4u) + slot][lane] = v.x;
        tileB[(kk + 1u) * (TILE_N / 4u) + slot][lane] = v.y;
        tileB[(kk + 2u) * (TILE_N / 4u) + slot][lane] = v.z;
        tileB[(kk + 3u) * (TILE_N / 4u) + slot][lane] = v.w;
      } else {
        tileB[kk * (TILE_N / 4u) + nn / 4u] = v;
      }
    }
    return;
  }
  for (var i = tid; i < TILE_N * TILE_K / 4u; i += THREADS) {
    let nn = (i % (TILE_N / 4u)) * 4u;
    let kk = i / (TILE_N / 4u);
    let k = k0 + kk;
    var v = vec4f(0.0);
    if (k < kEnd) {
      for (var j = 0u; j < 4u; j++) {
        if (n0 + nn + j < u.N) { v[j] = loadB(k, n0 + nn + j); }
      }
    }
    tileB[kk * (TILE_N / 4u) + nn / 4u] = v;
  }
}

// Stores one row of the thread's 4×4 block (columns n..n+3), inside the matrix only.
fn storeRow(m: u32, n: u32, z: u32, v: vec4f) {
  if (m >= u.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (n + j < u.N) {
      if (SPLIT_K) { partial[(z * u.M + m) * u.N + n + j] = v[j]; } else { storeC(m, n + j, v[j]); }
    }
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let tid = lid.y * WG_X + lid.x;
  let m0 = wid.y * TILE_M;
  let n0 = wid.x * TILE_N;
  let kBegin = wid.z * u.kChunk;
  let kEnd = min(u.K, kBegin + u.kChunk);
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);

  for (var k0 = kBegin; k0 < kEnd; k0 += TILE_K) {
    loadTileA(tid, m0, k0, kEnd);
    loadTileB(tid, n0, k0, kEnd);
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      let a = tileA[kk * (TILE_M / 4u) + lid.y];
      let b = tileB[kk * (TILE_N / 4u) + lid.x];
      acc0 = fma(vec4f(a.x), b, acc0);
      acc1 = fma(vec4f(a.y), b, acc1);
      acc2 = fma(vec4f(a.z), b, acc2);
      acc3 = fma(vec4f(a.w), b, acc3);
    }
    workgroupBarrier();
  }

  let m = m0 + lid.y * 4u;
  let n = n0 + lid.x * 4u;
  storeRow(m, n, wid.z, acc0);
  storeRow(m + 1u, n, wid.z, acc1);
  storeRow(m + 2u, n, wid.z, acc2);
  storeRow(m + 3u, n, wid.z, acc3);
}

//! section direct
// Register-tiled GEMM without workgroup memory or barriers, for the shapes where staging tiles buys
// little (webgpu.ts gemmPlan picks it): thin outputs such as conv backward-input into 1–3 channel images
// (N ≤ 4) and dense layers at batch 1 (M ≤ 4), and short or narrow products. Same loaders and constants
// as `main` but for TILE_*, plus R_M, R_N (rows and columns of C each thread owns) and ALONG_M. Each thread reads its
// operands straight from global memory, where caches give the reuse that workgroup memory would; there
// is no barrier (very costly on some adapters: software ones switch between all invocations at each) and
// no idle lane in a 16-wide tile.
// The thread's block of C is held in vec4 accumulators: with ALONG_M, its R_N ≤ 16 columns (vec4 over 4
// rows), so a thin block still fills the vectors and each gathered A value serves up to 16 columns (a
// convolution's every output channel, in one column group on every adapter: 64 accumulators);
// otherwise its R_M ≤ 4 rows (vec4 over 4 columns). K advances four at a time: the blocks of A and B are
// read (vec4 along K where that is the operand's fast dimension) and added as four rank-1 updates. Rows
// and columns past the matrix are read clamped to its edge and never stored; rows of B past kEnd read zero.
struct Block {
  c0: vec4f, c1: vec4f, c2: vec4f, c3: vec4f, c4: vec4f, c5: vec4f, c6: vec4f, c7: vec4f,
  c8: vec4f, c9: vec4f, c10: vec4f, c11: vec4f, c12: vec4f, c13: vec4f, c14: vec4f, c15: vec4f,
}

// Staged B (STAGE_B: a convolution's weights, small, read by every thread of the workgroup): the workgroup
// copies the K chunk of B once into workgroup memory, then every k step reads its column group as one to four
// vec4 (STAGE_VPG = ⌈R_N/4⌉) instead of R_N gathered loads. Layout [k][column group][vec4]: row kk of group g holds
// B[kBegin + kk, g·R_N + 0..R_N−1], zero-filled past R_N, N and kEnd (STAGE_ROWS is the chunk rounded up to
// 4), so a thread's reads are aligned vec4s. The zeros give the same fma chain as rowB's zero rows and
// clamped columns: the stored sums are unchanged. Without STAGE_B the arrays have one element, unused.
var<workgroup> stagedB: array<vec4f, STAGE_ROWS * STAGE_GROUPS * STAGE_VPG>;

fn stageB(tid: u32, kBegin: u32, kEnd: u32) {
  let cols = STAGE_GROUPS * STAGE_VPG * 4u;
  // k fastest: consecutive threads read consecutive weights where k is their fast dimension (conv forward).
  for (var i = tid; i < STAGE_ROWS * cols; i += WORKGROUP_SIZE) {
    let kk = i % STAGE_ROWS;
    let col = i / STAGE_ROWS;
    let g = col / (STAGE_VPG * 4u);
    let c = col % (STAGE_VPG * 4u);
    let n = g * R_N + c;
    var v = 0.0;
    if (c < R_N && n < u.N && kBegin + kk < kEnd) { v = loadB(kBegin + kk, n); }
    stagedB[(kk * STAGE_GROUPS + g) * STAGE_VPG + c / 4u][c % 4u] = v;
  }
}

// Staged rows k..k+3 of the thread's column group g, columns 4q..4q+3 (q < STAGE_VPG), as blockB gives them.
fn stagedBlock(kk: u32, g: u32, q: u32) -> mat4x4f {
  let i = (kk * STAGE_GROUPS + g) * STAGE_VPG + q;
  let step = STAGE_GROUPS * STAGE_VPG;
  return mat4x4f(stagedB[i], stagedB[i + step], stagedB[i + 2u * step], stagedB[i + 3u * step]);
}

// acc += a ⊗ (b, b2, b3, b4) for a = A[m..m+3, k], b = B[k, n..n+3], b2 = B[k, n+4..n+7], b3 = B[k,
// n+8..n+11], b4 = B[k, n+12..n+15], outside the block skipped.
fn rank1(acc: Block, a: vec4f, b: vec4f, b2: vec4f, b3: vec4f, b4: vec4f) -> Block {
  var r = acc;
  if (ALONG_M) {
    r.c0 = fma(a, vec4f(b.x), r.c0);
    if (R_N > 1u) { r.c1 = fma(a, vec4f(b.y), r.c1); }
    if (R_N > 2u) { r.c2 = fma(a, vec4f(b.z), r.c2); }
    if (R_N > 3u) { r.c3 = fma(a, vec4f(b.w), r.c3); }
    if (R_N > 4u) { r.c4 = fma(a, vec4f(b2.x), r.c4); }
    if (R_N > 5u) { r.c5 = fma(a, vec4f(b2.y), r.c5); }
    if (R_N > 6u) { r.c6 = fma(a, vec4f(b2.z), r.c6); }
    if (R_N > 7u) { r.c7 = fma(a, vec4f(b2.w), r.c7); }
    if (R_N > 8u) { r.c8 = fma(a, vec4f(b3.x), r.c8); }
    if (R_N > 9u) { r.c9 = fma(a, vec4f(b3.y), r.c9); }
    if (R_N > 10u) { r.c10 = fma(a, vec4f(b3.z), r.c10); }
    if (R_N > 11u) { r.c11 = fma(a, vec4f(b3.w), r.c11); }
    if (R_N > 12u) { r.c12 = fma(a, vec4f(b4.x), r.c12); }
    if (R_N > 13u) { r.c13 = fma(a, vec4f(b4.y), r.c13); }
    if (R_N > 14u) { r.c14 = fma(a, vec4f(b4.z), r.c14); }
    if (R_N > 15u) { r.c15 = fma(a, vec4f(b4.w), r.c15); }
  } else {
    r.c0 = fma(vec4f(a.x), b, r.c0);
    if (R_M > 1u) { r.c1 = fma(vec4f(a.y), b, r.c1); }
    if (R_M > 2u) { r.c2 = fma(vec4f(a.z), b, r.c2); }
    if (R_M > 3u) { r.c3 = fma(vec4f(a.w), b, r.c3); }
  }
  return r;
}

// A[m + j·step, k] for j < 4 (k inside the matrix), one gathered value per row.
fn colA(m: u32, k: u32, step: u32) -> vec4f {
  let last = u.M - 1u;
  var v = vec4f(loadA(m, k), 0.0, 0.0, 0.0);
  if (R_M > 1u) { v.y = loadA(min(m + step, last), k); }
  if (R_M > 2u) { v.z = loadA(min(m + 2u * step, last), k); }
  if (R_M > 3u) { v.w = loadA(min(m + 3u * step, last), k); }
  return v;
}

// B[k, n..n+cols−1] (cols ≤ 4, the rest zero), zero when k is past the thread's K range.
fn rowB(k: u32, n: u32, cols: u32, kEnd: u32) -> vec4f {
  if (k >= kEnd) { return vec4f(0.0); }
  let last = u.N - 1u;
  var v = vec4f(loadB(k, min(n, last)), 0.0, 0.0, 0.0);
  if (cols > 1u) { v.y = loadB(k, min(n + 1u, last)); }
  if (cols > 2u) { v.z = loadB(k, min(n + 2u, last)); }
  if (cols > 3u) { v.w = loadB(k, min(n + 3u, last)); }
  return v;
}

// Column kk of the result is A[m + j·step, k+kk] (j < 4). With VEC_A along K, K and kEnd are multiples of 4;
// with VEC_A, step is 1.
fn blockA(m: u32, k: u32, kEnd: u32, step: u32) -> mat4x4f {
  if (VEC_A && A_K_FAST) {
    let last = u.M - 1u;
    let r0 = loadA4(m, k);
    var r1 = vec4f(0.0); var r2 = vec4f(0.0); var r3 = vec4f(0.0);
    if (R_M > 1u) { r1 = loadA4(min(m + 1u, last), k); }
    if (R_M > 2u) { r2 = loadA4(min(m + 2u, last), k); }
    if (R_M > 3u) { r3 = loadA4(min(m + 3u, last), k); }
    return transpose(mat4x4f(r0, r1, r2, r3));
  }
  let kLast = kEnd - 1u;
  if (VEC_A) { // along M, M % 4 == 0: m..m+3 lie inside the matrix
    return mat4x4f(loadA4(m, k), loadA4(m, min(k + 1u, kLast)), loadA4(m, min(k + 2u, kLast)), loadA4(m, min(k + 3u, kLast)));
  }
  return mat4x4f(colA(m, k, step), colA(m, min(k + 1u, kLast), step), colA(m, min(k + 2u, kLast), step), colA(m, min(k + 3u, kLast), step));
}

// Column kk of the result is B[k+kk, n..n+cols−1], zero past kEnd.
fn blockB(k: u32, n: u32, cols: u32, kEnd: u32) -> mat4x4f {
  if (VEC_B && B_K_FAST) { // along K, K % 4 == 0
    let last = u.N - 1u;
    let c0 = loadB4(k, min(n, last));
    var c1 = vec4f(0.0); var c2 = vec4f(0.0); var c3 = vec4f(0.0);
    if (cols > 1u) { c1 = loadB4(k, min(n + 1u, last)); }
    if (cols > 2u) { c2 = loadB4(k, min(n + 2u, last)); }
    if (cols > 3u) { c3 = loadB4(k, min(n + 3u, last)); }
    return transpose(mat4x4f(c0, c1, c2, c3));
  }
  if (VEC_B) { // along N, N % 4 == 0 and n % 4 == 0: clamped, the vector lies inside the matrix
    let nn = min(n, u.N - 4u);
    var b = mat4x4f(loadB4(k, nn), vec4f(0.0), vec4f(0.0), vec4f(0.0));
    if (k + 1u < kEnd) { b[1] = loadB4(k + 1u, nn); }
    if (k + 2u < kEnd) { b[2] = loadB4(k + 2u, nn); }
    if (k + 3u < kEnd) { b[3] = loadB4(k + 3u, nn); }
    return b;
  }
  return mat4x4f(rowB(k, n, cols, kEnd), rowB(k + 1u, n, cols, kEnd), rowB(k + 2u, n, cols, kEnd), rowB(k + 3u, n, cols, kEnd));
}

// Stores four values of C: at rows m + j·step of column n (alongM) or columns n + j of row m, inside the
// matrix only.
fn storeVec(m: u32, n: u32, z: u32, v: vec4f, alongM: bool, step: u32) {
  for (var j = 0u; j < 4u; j++) {
    var mj = m; var nj = n + j;
    if (alongM) { mj = m + j * step; nj = n; }
    if (mj < u.M && nj < u.N) {
      if (SPLIT_K) { partial[(z * u.M + mj) * u.N + nj] = v[j]; } else { storeC(mj, nj, v[j]); }
    }
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) tid: u32) {
  let groupsN = (u.N + R_N - 1u) / R_N;
  let groupsM = (u.M + R_M - 1u) / R_M;
  if (STAGE_B) {
    // Before any thread returns: the barrier needs the whole workgroup.
    stageB(tid, gid.z * u.kChunk, min(u.K, gid.z * u.kChunk + u.kChunk));
    workgroupBarrier();
  }
  let t = linearId(gid, nwg);
  if (t >= groupsN * groupsM) { return; }
  var n = (t % groupsN) * R_N;
  var m = (t / groupsN) * R_M;
  // Gathered rows along M (a conv's pixels): the thread's rows are m, m + groupsM, … so that neighbouring
  // lanes own neighbouring rows, and each load and store of a warp touches consecutive addresses (rows
  // m..m+3 per lane would leave 3 of every 4 words of each transaction unused). Each element still sums k
  // in the same order: only which thread computes it changes.
  var step = 1u;
  if (ALONG_M && !VEC_A) {
    m = t % groupsM;
    n = (t / groupsM) * R_N;
    step = groupsM;
  }
  let kBegin = gid.z * u.kChunk;
  let kEnd = min(u.K, kBegin + u.kChunk);
  let zero = vec4f(0.0);
  var acc = Block(zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero);
  for (var k = kBegin; k < kEnd; k += 4u) {
    let a = blockA(m, k, kEnd, step);
    // Columns n..n+3, n+4..n+7, n+8..n+11, n+12..n+15 of rows k..k+3 (those past R_N are never loaded).
    var b: mat4x4f;
    var b2 = mat4x4f();
    var b3 = mat4x4f();
    var b4 = mat4x4f();
    if (STAGE_B) {
      b = stagedBlock(k - kBegin, n / R_N, 0u);
      if (R_N > 4u) { b2 = stagedBlock(k - kBegin, n / R_N, 1u); }
      if (R_N > 8u) { b3 = stagedBlock(k - kBegin, n / R_N, 2u); }
      if (R_N > 12u) { b4 = stagedBlock(k - kBegin, n / R_N, 3u); }
    } else {
      b = blockB(k, n, min(R_N, 4u), kEnd);
      if (R_N > 4u) { b2 = blockB(k, n + 4u, min(R_N, 8u) - 4u, kEnd); }
      if (R_N > 8u) { b3 = blockB(k, n + 8u, min(R_N, 12u) - 8u, kEnd); }
      if (R_N > 12u) { b4 = blockB(k, n + 12u, R_N - 12u, kEnd); }
    }
    acc = rank1(acc, a[0], b[0], b2[0], b3[0], b4[0]);
    acc = rank1(acc, a[1], b[1], b2[1], b3[1], b4[1]);
    acc = rank1(acc, a[2], b[2], b2[2], b3[2], b4[2]);
    acc = rank1(acc, a[3], b[3], b2[3], b3[3], b4[3]);
  }
  if (ALONG_M) {
    storeVec(m, n, gid.z, acc.c0, true, step);
    if (R_N > 1u) { storeVec(m, n + 1u, gid.z, acc.c1, true, step); }
    if (R_N > 2u) { storeVec(m, n + 2u, gid.z, acc.c2, true, step); }
    if (R_N > 3u) { storeVec(m, n + 3u, gid.z, acc.c3, true, step); }
    if (R_N > 4u) { storeVec(m, n + 4u, gid.z, acc.c4, true, step); }
    if (R_N > 5u) { storeVec(m, n + 5u, gid.z, acc.c5, true, step); }
    if (R_N > 6u) { storeVec(m, n + 6u, gid.z, acc.c6, true, step); }
    if (R_N > 7u) { storeVec(m, n + 7u, gid.z, acc.c7, true, step); }
    if (R_N > 8u) { storeVec(m, n + 8u, gid.z, acc.c8, true, step); }
    if (R_N > 9u) { storeVec(m, n + 9u, gid.z, acc.c9, true, step); }
    if (R_N > 10u) { storeVec(m, n + 10u, gid.z, acc.c10, true, step); }
    if (R_N > 11u) { storeVec(m, n + 11u, gid.z, acc.c11, true, step); }
    if (R_N > 12u) { storeVec(m, n + 12u, gid.z, acc.c12, true, step); }
    if (R_N > 13u) { storeVec(m, n + 13u, gid.z, acc.c13, true, step); }
    if (R_N > 14u) { storeVec(m, n + 14u, gid.z, acc.c14, true, step); }
    if (R_N > 15u) { storeVec(m, n + 15u, gid.z, acc.c15, true, step); }
  } else {
    storeVec(m, n, gid.z, acc.c0, false, 1u);
    if (R_M > 1u) { storeVec(m + 1u, n, gid.z, acc.c1, false, 1u); }
    if (R_M > 2u) { storeVec(m + 2u, n, gid.z, acc.c2, false, 1u); }
    if (R_M > 3u) { storeVec(m + 3u, n, gid.z, acc.c3, false, 1u); }
  }
}

//! section kpar
// K-parallel GEMM for a long K and a small C (conv filter gradients and dense weight gradients at large
// batch: gemm-plan.ts picks it). Workgroup (x, y, z) owns one 4×4 block of C (x + y·nwg.x: its index, blocks
// along N first; y > 0 only past the device's workgroups per dimension, the rows being any M) and one chunk of
// K (z: u.kChunk values from z·u.kChunk, the last one shorter). Its lanes walk
// consecutive k (lane l takes k = kBegin + l, + KPAR_LANES, …), so neighbouring lanes read neighbouring
// addresses wherever k is an operand's fast dimension (a conv's pixels); each lane sums its k in order into a
// 4×4 block, then the workgroup adds the lanes' blocks in a fixed two-level tree (groups of 4 lanes, then
// the 16 groups). With SPLIT_K the block goes to `partial` and splitk_tree adds the chunks in a fixed order
// (splitk up to 8 chunks: the same order, gemm-plan.ts kparTreeSum): every sum depends on K and u.kChunk
// only (gemm-plan.ts: shape only), never on the adapter or on M.
const KPAR_LANES: u32 = 64u;
const_assert WORKGROUP_SIZE == KPAR_LANES;
var<workgroup> kparLanes: array<vec4f, 4u * KPAR_LANES>; // [lane][row]: the row's 4 columns
var<workgroup> kparGroups: array<vec4f, KPAR_LANES>; // [group of 4 lanes][row]

// A[m..m+3, k]: rows past M read clamped to the last one (never stored). vec4 along M when M % 4 == 0.
fn kparA(m: u32, k: u32) -> vec4f {
  if (VEC_A && !A_K_FAST) { return loadA4(m, k); }
  let last = u.M - 1u;
  return vec4f(loadA(m, k), loadA(min(m + 1u, last), k), loadA(min(m + 2u, last), k), loadA(min(m + 3u, last), k));
}

// B[k, n..n+3], columns past N clamped likewise. vec4 along N when N % 4 == 0.
fn kparB(k: u32, n: u32) -> vec4f {
  if (VEC_B && !B_K_FAST) { return loadB4(k, n); }
  let last = u.N - 1u;
  return vec4f(loadB(k, n), loadB(k, min(n + 1u, last)), loadB(k, min(n + 2u, last)), loadB(k, min(n + 3u, last)));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let groupsN = (u.N + 3u) / 4u;
  let block = wid.x + wid.y * nwg.x; // the same for the whole workgroup, so the early return is uniform
  if (block >= groupsN * ((u.M + 3u) / 4u)) { return; }
  let n = (block % groupsN) * 4u;
  let m = (block / groupsN) * 4u;
  let kBegin = wid.z * u.kChunk;
  let kEnd = min(u.K, kBegin + u.kChunk);
  var c0 = vec4f(0.0);
  var c1 = vec4f(0.0);
  var c2 = vec4f(0.0);
  var c3 = vec4f(0.0);
  for (var k = kBegin + lane; k < kEnd; k += KPAR_LANES) {
    let a = kparA(m, k);
    let b = kparB(k, n);
    c0 = fma(vec4f(a.x), b, c0);
    c1 = fma(vec4f(a.y), b, c1);
    c2 = fma(vec4f(a.z), b, c2);
    c3 = fma(vec4f(a.w), b, c3);
  }
  kparLanes[lane * 4u] = c0;
  kparLanes[lane * 4u + 1u] = c1;
  kparLanes[lane * 4u + 2u] = c2;
  kparLanes[lane * 4u + 3u] = c3;
  workgroupBarrier();
  // Lane 4g + r adds row r of lanes 4g..4g+3; then lane r < 4 adds row r of the 16 groups, in order.
  let row = lane % 4u;
  let g = lane / 4u;
  kparGroups[g * 4u + row] = ((kparLanes[(g * 16u) + row] + kparLanes[(g * 16u) + 4u + row]) +
    kparLanes[(g * 16u) + 8u + row]) + kparLanes[(g * 16u) + 12u + row];
  workgroupBarrier();
  if (lane < 4u) {
    var s = vec4f(0.0);
    for (var i = 0u; i < KPAR_LANES / 4u; i++) { s += kparGroups[i * 4u + lane]; }
    let mm = m + lane;
    if (mm < u.M) {
      for (var j = 0u; j < 4u; j++) {
        if (n + j < u.N) {
          if (SPLIT_K) { partial[(wid.z * u.M + mm) * u.N + n + j] = s[j]; } else { storeC(mm, n + j, s[j]); }
        }
      }
    }
  }
}

//! section epilogue
// The store every variant ends in: optional bias (per output column) and accumulation into `out`.
fn epilogue(idx: u32, col: u32, v: f32) {
  var r = v;
  if (HAS_BIAS) { r += bias[col]; }
  if (ACCUMULATE) { r += out[idx]; }
  out[idx] = r;
}

//! section epilogue_fused
// The store with the activation that follows the layer (pointwise.wgsl's act, ACT): `out` gets the GEMM's
// result r (bias and accumulation included), act_out gets σ(r) (FUSE_VALUE) or σ′(z)·r with z the value
// stream's pre-activation read from act_z (FUSE_TANGENT). The layer's output is never read back by a
// separate pointwise pass. Only the last of the GEMMs that accumulate into one output is fused.
fn epilogue(idx: u32, col: u32, v: f32) {
  var r = v;
  if (HAS_BIAS) { r += bias[col]; }
  if (ACCUMULATE) { r += out[idx]; }
  out[idx] = r;
  if (FUSE == FUSE_VALUE) { act_out[idx] = act(r).x; }
  if (FUSE == FUSE_TANGENT) { act_out[idx] = act(act_z[idx]).y * r; }
}

//! section splitk
// Adds the K-slices that the split-K GEMM left in `partial` and stores through the variant's storeC.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  let mn = u.M * u.N;
  if (i >= mn) { return; }
  var s = 0.0;
  for (var z = 0u; z < u.splits; z++) { s += partial[z * mn + i]; }
  storeC(i / u.N, i % u.N, s);
}

//! section splitk_tree
// Adds the K chunks that kpar left in `partial` ([splits, M, N]), one workgroup per element of C: lane l sums
// chunks l, l + 64, … in order, then lanes 8g..8g+7 are added by lane g, then the 8 groups by lane 0, which
// stores through the variant's storeC. A fixed order: bitwise the same on every run and adapter.
const SUM_LANES: u32 = 64u;
const_assert WORKGROUP_SIZE == SUM_LANES;
var<workgroup> sumLanes: array<f32, SUM_LANES>;
var<workgroup> sumGroups: array<f32, 8>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = wid.x + wid.y * nwg.x; // the same for the whole workgroup, so the early return is uniform
  let mn = u.M * u.N;
  if (i >= mn) { return; }
  var s = 0.0;
  for (var z = lane; z < u.splits; z += SUM_LANES) { s += partial[z * mn + i]; }
  sumLanes[lane] = s;
  workgroupBarrier();
  if (lane < 8u) {
    var t = 0.0;
    for (var j = 0u; j < 8u; j++) { t += sumLanes[lane * 8u + j]; }
    sumGroups[lane] = t;
  }
  workgroupBarrier();
  if (lane == 0u) {
    var r = 0.0;
    for (var j = 0u; j < 8u; j++) { r += sumGroups[j]; }
    storeC(i / u.N, i % u.N, r);
  }
}

//! section operand_a_scalar
// elemA/vecA (and B's) read one value or four from an operand bound as array<f32> (these sections) or as
// array<vec4f> (the _vec4 ones); the host picks the section that matches the binding's element type.
fn elemA(i: u32) -> f32 { return a[i]; }
fn vecA(i: u32) -> vec4f { return vec4f(a[i], a[i + 1u], a[i + 2u], a[i + 3u]); }

//! section operand_a_vec4
fn elemA(i: u32) -> f32 { return a[i / 4u][i % 4u]; }
fn vecA(i: u32) -> vec4f { return a[i / 4u]; }

//! section operand_b_scalar
fn elemB(i: u32) -> f32 { return b[i]; }
fn vecB(i: u32) -> vec4f { return vec4f(b[i], b[i + 1u], b[i + 2u], b[i + 3u]); }

//! section operand_b_vec4
fn elemB(i: u32) -> f32 { return b[i / 4u][i % 4u]; }
fn vecB(i: u32) -> vec4f { return b[i / 4u]; }

//! section dense
// Plain matrices: A [M,K] (or [K,M] with TRANS_A), B [K,N] (or [N,K] with TRANS_B), C [M,N].
fn indexA(m: u32, k: u32) -> u32 { if (TRANS_A) { return k * u.M + m; } return m * u.K + k; }
fn indexB(k: u32, n: u32) -> u32 { if (TRANS_B) { return n * u.K + k; } return k * u.N + n; }
fn loadA(m: u32, k: u32) -> f32 { return elemA(indexA(m, k)); }
fn loadB(k: u32, n: u32) -> f32 { return elemB(indexB(k, n)); }
fn loadA4(m: u32, k: u32) -> vec4f { return vecA(indexA(m, k)); }
fn loadB4(k: u32, n: u32) -> vec4f { return vecB(indexB(k, n)); }
fn storeC(m: u32, n: u32, v: f32) { epilogue(m * u.N + n, n, v); }

//! section gathered
// Implicit-GEMM operands are gathered element by element (im2col on the fly), never as vec4: VEC_A and
// VEC_B are false for them and these are not called.
fn loadA4(m: u32, k: u32) -> vec4f { return vec4f(loadA(m, k)); }
fn loadB4(k: u32, n: u32) -> vec4f { return vec4f(loadB(k, n)); }
