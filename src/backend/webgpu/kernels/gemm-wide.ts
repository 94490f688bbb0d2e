// The `wide` GEMM kernel: 128×128 tiles of C, 8×8 outputs per thread, written out by TypeScript so that the
// k-loop and the 64 accumulators are unrolled in the WGSL (no private arrays, no loop the compiler must
// unroll). It joins the gemm family as section `wide` and uses the same loaders (loadA/loadB, loadA4/loadB4,
// storeC) and constants (A_K_FAST, B_K_FAST, VEC_A, VEC_B, SPLIT_K) as `main` and `direct`.
//
// Why each piece (a GPU's view; SwiftShader is a CPU and cares about none of them):
//  - 8×8 per thread: each thread reads 2+2 vec4 of workgroup memory per k step for 64 FMAs (main: 1+1 for 16).
//  - Workgroup memory holds each tile k-major as vec4 rows of 4 rows (A) or 4 columns (B), each row padded
//    by one vec4: a thread's reads are broadcasts (A) or consecutive vec4 (B), and the transposing scalar
//    stores of a k-fast operand (thread t: row t/2, k (t%2)·4 + j) land in 32 distinct banks (without the pad,
//    two threads share each bank).
//  - Double-buffered tiles and a register prefetch: the next tile's global loads are issued before the
//    current tile's FMAs and stored to the other buffer after them, so one barrier per tile suffices (a
//    buffer is written only after every thread passed the barrier that ended its last reads).
//  - Interior tiles (the whole 128×128 block and the 8 k inside the matrix) load and store without bounds
//    tests; edge tiles test every element. The test is uniform over the workgroup.
//  - vec4 loads along an operand's fast dimension where VEC_A / VEC_B say its length allows.
//  - Tiles are visited in groups of WIDE_GROUP_M tile rows (tile swizzle): neighbouring workgroups share
//    rows of A and columns of B in L2.
// The sum order is the other kernels': each element of C is one fma chain over k from the chunk's start to
// its end, starting from 0 (zero-padded k past the end adds +0, which leaves a sum unchanged), so the
// choice of kernel changes no bit of a result as long as the K partition (gemm-plan.ts) is the same.

/** Tile sizes of the wide kernel: fixed, since the generated text is unrolled for them. */
export const WIDE = { tileM: 128, tileN: 128, tileK: 8, rowsPerThread: 8, colsPerThread: 8, threads: 256 } as const;
/** Tile rows per swizzle group. */
export const WIDE_GROUP_M = 8;

const { tileM: BM, tileN: BN, tileK: BK, threads: THREADS } = WIDE;

/** The accumulators' names: c{row}_{half} holds row `row` of the thread, columns 4·half..4·half+3. */
const acc = (row: number, half: number) => `c${row}_${half}`;

function unrolledSteps(): string {
  const lines: string[] = [];
  for (let kk = 0; kk < BK; kk++) {
    lines.push(`    // k step ${kk}`);
    lines.push(`    a0 = tileA[baseA + ${kk * (BM / 4 + 1)}u + ty];`);
    lines.push(`    a1 = tileA[baseA + ${kk * (BM / 4 + 1) + BM / 8}u + ty];`);
    lines.push(`    b0 = tileB[baseB + ${kk * (BN / 4 + 1)}u + tx];`);
    lines.push(`    b1 = tileB[baseB + ${kk * (BN / 4 + 1) + BN / 8}u + tx];`);
    for (let r = 0; r < 8; r++) {
      const a = `${r < 4 ? 'a0' : 'a1'}.${'xyzw'[r % 4]}`;
      lines.push(`    ${acc(r, 0)} = fma(vec4f(${a}), b0, ${acc(r, 0)}); ${acc(r, 1)} = fma(vec4f(${a}), b1, ${acc(r, 1)});`);
    }
  }
  return lines.join('\n');
}

function stores(): string {
  const lines: string[] = [];
  for (let r = 0; r < 8; r++) {
    const m = `mRow + ${r < 4 ? r : BM / 2 + r - 4}u`;
    lines.push(`  storeRow8(${m}, nCol, wid.z, ${acc(r, 0)}, ${acc(r, 1)}, interior);`);
  }
  return lines.join('\n');
}

/** The WGSL text of section `wide` (generated once, at module load). */
/**
 * wideFetchA / wideFetchB: one template for both operands. `r` is the operand's row index (m of A, n of B),
 * `R` its bound, and `at(row, k)` the argument order of its loaders (loadA(m, k), loadB(k, n)).
 */
function wideFetch(X: 'A' | 'B', r: 'm' | 'n', R: 'M' | 'N', at: (row: string, k: string) => string): string {
  return `fn wideFetch${X}(t: u32, ${r}0: u32, k0: u32, kEnd: u32, full: bool) -> vec4f {
  var ${r} = ${r}0 + (t % 32u) * 4u; var k = k0 + t / 32u;
  if (${X}_K_FAST) { ${r} = ${r}0 + t / 2u; k = k0 + (t % 2u) * 4u; }
  if (full) {
    if (VEC_${X}) { return load${X}4(${at(r, 'k')}); }
    if (${X}_K_FAST) { return vec4f(load${X}(${at(r, 'k')}), load${X}(${at(r, 'k + 1u')}), load${X}(${at(r, 'k + 2u')}), load${X}(${at(r, 'k + 3u')})); }
    return vec4f(load${X}(${at(r, 'k')}), load${X}(${at(`${r} + 1u`, 'k')}), load${X}(${at(`${r} + 2u`, 'k')}), load${X}(${at(`${r} + 3u`, 'k')}));
  }
  // VEC_${X}: the fast dimension's length is a multiple of 4, and so are ${r} (or k) and kEnd: a vector lies
  // wholly inside or wholly outside.
  if (VEC_${X}) {
    if (${r} < u.${R} && k < kEnd) { return load${X}4(${at(r, 'k')}); }
    return vec4f(0.0);
  }
  var v = vec4f(0.0);
  for (var j = 0u; j < 4u; j++) {
    var ${r}j = ${r} + j; var kj = k;
    if (${X}_K_FAST) { ${r}j = ${r}; kj = k + j; }
    if (${r}j < u.${R} && kj < kEnd) { v[j] = load${X}(${at(`${r}j`, 'kj')}); }
  }
  return v;
}
`;
}

export function wideKernelWgsl(): string {
  const rowA = BM / 4 + 1,
    rowB = BN / 4 + 1;
  const decls: string[] = [];
  for (let r = 0; r < 8; r++) decls.push(`  var ${acc(r, 0)} = vec4f(0.0); var ${acc(r, 1)} = vec4f(0.0);`);
  return `
// Generated by src/backend/webgpu/kernels/gemm-wide.ts (its header says why each piece is there).
const WIDE_BM: u32 = ${BM}u;
const WIDE_BN: u32 = ${BN}u;
const WIDE_BK: u32 = ${BK}u;
const WIDE_GROUP_M: u32 = ${WIDE_GROUP_M}u;
const_assert ${THREADS}u == WORKGROUP_SIZE;
const ROW_A: u32 = ${rowA}u; // vec4 per k row of tileA: BM/4 and one of padding
const ROW_B: u32 = ${rowB}u;
var<workgroup> tileA: array<vec4f, ${2 * BK * rowA}>; // [buffer][k][m/4]
var<workgroup> tileB: array<vec4f, ${2 * BK * rowB}>; // [buffer][k][n/4]

// This thread's share of a tile: four values of A (or B). With the operand's fast dimension along k, the
// thread takes row t/2 (column t/2 of B) at k = (t%2)·4..+3; otherwise k = t/32 and rows (columns)
// (t%32)·4..+3. Consecutive threads read consecutive addresses either way. \`full\`: the tile lies inside
// the matrix and the chunk, so nothing is tested.
${wideFetch('A', 'm', 'M', (row, k) => `${row}, ${k}`)}
${wideFetch('B', 'n', 'N', (row, k) => `${k}, ${row}`)}
// Stores a thread's share into buffer \`buf\`: one vec4 (4 rows at one k), or, along k, four scalars into
// four k rows (the padded rows put them in distinct banks).
fn widePutA(t: u32, buf: u32, v: vec4f) {
  let base = buf * WIDE_BK * ROW_A;
  if (A_K_FAST) {
    let m = t / 2u; let k = (t % 2u) * 4u;
    tileA[base + k * ROW_A + m / 4u][m % 4u] = v.x;
    tileA[base + (k + 1u) * ROW_A + m / 4u][m % 4u] = v.y;
    tileA[base + (k + 2u) * ROW_A + m / 4u][m % 4u] = v.z;
    tileA[base + (k + 3u) * ROW_A + m / 4u][m % 4u] = v.w;
  } else {
    tileA[base + (t / 32u) * ROW_A + t % 32u] = v;
  }
}

fn widePutB(t: u32, buf: u32, v: vec4f) {
  let base = buf * WIDE_BK * ROW_B;
  if (B_K_FAST) {
    let n = t / 2u; let k = (t % 2u) * 4u;
    tileB[base + k * ROW_B + n / 4u][n % 4u] = v.x;
    tileB[base + (k + 1u) * ROW_B + n / 4u][n % 4u] = v.y;
    tileB[base + (k + 2u) * ROW_B + n / 4u][n % 4u] = v.z;
    tileB[base + (k + 3u) * ROW_B + n / 4u][n % 4u] = v.w;
  } else {
    tileB[base + (t / 32u) * ROW_B + t % 32u] = v;
  }
}

fn wideStore(m: u32, n: u32, z: u32, v: f32) {
  if (SPLIT_K) { partial[(z * u.M + m) * u.N + n] = v; } else { storeC(m, n, v); }
}

// Row m of the thread's block: columns n..n+3 (lo) and n+64..n+67 (hi); tested only on edge tiles.
fn storeRow8(m: u32, n: u32, z: u32, lo: vec4f, hi: vec4f, interior: bool) {
  if (interior) {
    for (var j = 0u; j < 4u; j++) { wideStore(m, n + j, z, lo[j]); }
    for (var j = 0u; j < 4u; j++) { wideStore(m, n + WIDE_BN / 2u + j, z, hi[j]); }
    return;
  }
  if (m >= u.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (n + j < u.N) { wideStore(m, n + j, z, lo[j]); }
    if (n + WIDE_BN / 2u + j < u.N) { wideStore(m, n + WIDE_BN / 2u + j, z, hi[j]); }
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  // The tile swizzle: tiles numbered in groups of WIDE_GROUP_M tile rows, column by column inside a group.
  let tilesM = (u.M + WIDE_BM - 1u) / WIDE_BM;
  let tilesN = (u.N + WIDE_BN - 1u) / WIDE_BN;
  let pid = wid.x + wid.y * nwg.x;
  if (pid >= tilesM * tilesN) { return; } // the folded grid's tail: uniform over the workgroup
  let perGroup = WIDE_GROUP_M * tilesN;
  let firstM = (pid / perGroup) * WIDE_GROUP_M;
  let rows = min(tilesM - firstM, WIDE_GROUP_M);
  let tm = firstM + (pid % perGroup) % rows;
  let tn = (pid % perGroup) / rows;
  let m0 = tm * WIDE_BM;
  let n0 = tn * WIDE_BN;
  let interior = (m0 + WIDE_BM <= u.M) && (n0 + WIDE_BN <= u.N);
  let kBegin = wid.z * u.kChunk;
  let kEnd = min(u.K, kBegin + u.kChunk);
  let tx = t % 16u;
  let ty = t / 16u;
${decls.join('\n')}
  var a0: vec4f; var a1: vec4f; var b0: vec4f; var b1: vec4f;

  var full = interior && kBegin + WIDE_BK <= kEnd;
  var ra = wideFetchA(t, m0, kBegin, kEnd, full);
  var rb = wideFetchB(t, n0, kBegin, kEnd, full);
  widePutA(t, 0u, ra);
  widePutB(t, 0u, rb);
  workgroupBarrier();
  var cur = 0u;
  for (var k0 = kBegin; k0 < kEnd; k0 += WIDE_BK) {
    // Prefetch the next tile into registers; its global loads overlap this tile's FMAs.
    let next = k0 + WIDE_BK;
    let more = next < kEnd;
    if (more) {
      full = interior && next + WIDE_BK <= kEnd;
      ra = wideFetchA(t, m0, next, kEnd, full);
      rb = wideFetchB(t, n0, next, kEnd, full);
    }
    let baseA = cur * WIDE_BK * ROW_A;
    let baseB = cur * WIDE_BK * ROW_B;
${unrolledSteps()}
    // The other buffer was last read before the previous barrier: safe to overwrite now.
    if (more) {
      widePutA(t, cur ^ 1u, ra);
      widePutB(t, cur ^ 1u, rb);
    }
    workgroupBarrier();
    cur ^= 1u;
  }

  let mRow = m0 + ty * 4u;
  let nCol = n0 + tx * 4u;
${stores()}
}
`;
}
