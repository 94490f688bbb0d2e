//! section main
// Tiled GEMM C[M,N] = A[M,K]·B[K,N], shared by dense and by the three conv2d passes (implicit GEMM).
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

//! section epilogue
// The store every variant ends in: optional bias (per output column) and accumulation into `out`.
fn epilogue(idx: u32, col: u32, v: f32) {
  var r = v;
  if (HAS_BIAS) { r += bias[col]; }
  if (ACCUMULATE) { r += out[idx]; }
  out[idx] = r;
}

//! section splitk
// Adds the K-slices that the split-K GEMM left in `partial` and stores through the variant's storeC.
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  let mn = u.M * u.N;
  if (i >= mn) { return; }
  var s = 0.0;
  for (var z = 0u; z < u.splits; z++) { s += partial[z * mn + i]; }
  storeC(i / u.N, i % u.N, s);
}

//! section dense
// Plain matrices: A [M,K] (or [K,M] with TRANS_A), B [K,N] (or [N,K] with TRANS_B), C [M,N]. elemA/vecA
// (and B's) read one value or four from a binding declared as array<f32> or array<vec4f>, generated by the host.
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
