//! section main
// Tiled GEMM C[M,N] = A[M,K]·B[K,N], shared by dense and by the three conv2d passes (implicit GEMM).
// The variant supplies loadA(m, k) and loadB(k, n) (called only inside the matrix), their four-wide
// loadA4/loadB4 (four neighbours along the operand's fast dimension), storeC(m, n, value), and the
// constants TILE_M, TILE_N, TILE_K, THREAD_M, THREAD_N, A_K_FAST, B_K_FAST, VEC_A, VEC_B, SPLIT_K.
// Each workgroup stages a TILE_M×TILE_K slice of A and a TILE_K×TILE_N slice of B in workgroup memory;
// each thread accumulates THREAD_M×THREAD_N outputs, strided by the workgroup size so that neighbouring
// threads read neighbouring tile columns and write neighbouring outputs. With SPLIT_K, workgroup z sums
// only u.kChunk of K into `partial`, and the splitk kernel below adds the slices and stores.
const WG_X: u32 = TILE_N / THREAD_N;
const WG_Y: u32 = TILE_M / THREAD_M;
const THREADS: u32 = WG_X * WG_Y;

var<workgroup> tileA: array<f32, TILE_K * TILE_M>; // [k][m]
var<workgroup> tileB: array<f32, TILE_K * TILE_N>; // [k][n]

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
      for (var j = 0u; j < 4u; j++) {
        if (A_K_FAST) { tileA[(kk + j) * TILE_M + mm] = v[j]; } else { tileA[kk * TILE_M + mm + j] = v[j]; }
      }
    }
    return;
  }
  for (var i = tid; i < TILE_M * TILE_K; i += THREADS) {
    var mm = i % TILE_M;
    var kk = i / TILE_M;
    if (A_K_FAST) { mm = i / TILE_K; kk = i % TILE_K; }
    var v = 0.0;
    if (m0 + mm < u.M && k0 + kk < kEnd) { v = loadA(m0 + mm, k0 + kk); }
    tileA[kk * TILE_M + mm] = v;
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
      for (var j = 0u; j < 4u; j++) {
        if (B_K_FAST) { tileB[(kk + j) * TILE_N + nn] = v[j]; } else { tileB[kk * TILE_N + nn + j] = v[j]; }
      }
    }
    return;
  }
  for (var i = tid; i < TILE_N * TILE_K; i += THREADS) {
    var nn = i % TILE_N;
    var kk = i / TILE_N;
    if (B_K_FAST) { nn = i / TILE_K; kk = i % TILE_K; }
    var v = 0.0;
    if (n0 + nn < u.N && k0 + kk < kEnd) { v = loadB(k0 + kk, n0 + nn); }
    tileB[kk * TILE_N + nn] = v;
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let tid = lid.y * WG_X + lid.x;
  let m0 = wid.y * TILE_M;
  let n0 = wid.x * TILE_N;
  let kBegin = wid.z * u.kChunk;
  let kEnd = min(u.K, kBegin + u.kChunk);
  var acc: array<array<f32, THREAD_N>, THREAD_M>;

  for (var k0 = kBegin; k0 < kEnd; k0 += TILE_K) {
    loadTileA(tid, m0, k0, kEnd);
    loadTileB(tid, n0, k0, kEnd);
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      var a: array<f32, THREAD_M>;
      var b: array<f32, THREAD_N>;
      for (var i = 0u; i < THREAD_M; i++) { a[i] = tileA[kk * TILE_M + lid.y + i * WG_Y]; }
      for (var j = 0u; j < THREAD_N; j++) { b[j] = tileB[kk * TILE_N + lid.x + j * WG_X]; }
      for (var i = 0u; i < THREAD_M; i++) {
        for (var j = 0u; j < THREAD_N; j++) { acc[i][j] = fma(a[i], b[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < THREAD_M; i++) {
    let m = m0 + lid.y + i * WG_Y;
    for (var j = 0u; j < THREAD_N; j++) {
      let n = n0 + lid.x + j * WG_X;
      if (m < u.M && n < u.N) {
        if (SPLIT_K) { partial[(wid.z * u.M + m) * u.N + n] = acc[i][j]; } else { storeC(m, n, acc[i][j]); }
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
