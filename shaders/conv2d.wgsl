// conv2d's three passes as implicit GEMMs for the GEMM kernels in gemm.wgsl: the im2col matrix is never
// built; loadA/loadB compute its entries from NCHW indices on the fly (zero in the padding). The bounds
// tests are branch-free (non-short-circuit `&`, a select of the index and of the value): SIMD adapters run
// both sides of a branch anyway, and chains of early returns, inlined 16 times into the direct kernel, made
// SwiftShader's compiler take minutes. Grouped convolutions run one GEMM per group (uniform grp; cg, og
// channels per group), each on its own slice of channels and weights. The kernel size, stride, padding and dilation are compile-time constants (KH,
// KW, SH, SW, PH, PW, DH, DW: few distinct values per model), so their divisions become multiplies and shifts, or
// vanish at stride 1 (20–30% of these kernels' time on SwiftShader); the sizes stay uniforms.

//! section forward
// y[n,o,p,q] = Σ_{c,r,s} w[o,c,r,s]·x[n,c,p·sh+r·dh−ph,q·sw+s·dw−pw] (dh, dw: dilation)
// M = n·oh·ow (m ↦ n,p,q), N = o, K = c·kh·kw (k ↦ c,r,s).
fn loadA(m: u32, k: u32) -> f32 {
  let npq = unravel3(m, u.oh, u.ow);
  let crs = unravel3(k, KH, KW);
  let c = u.grp * u.cg + crs.x;
  let h = i32(npq.y * SH + crs.y * DH) - i32(PH);
  let w = i32(npq.z * SW + crs.z * DW) - i32(PW);
  let inside = (h >= 0) & (w >= 0) & (h < i32(u.h)) & (w < i32(u.w));
  return select(0.0, x[select(0u, nchw(npq.x, c, u32(h), u32(w), u.c, u.h, u.w), inside)], inside);
}
fn loadB(k: u32, o: u32) -> f32 { return wt[(u.grp * u.og + o) * u.K + k]; }
fn storeC(m: u32, o: u32, v: f32) {
  let pq = m % (u.oh * u.ow); let n = m / (u.oh * u.ow);
  let og = u.grp * u.og + o;
  epilogue((n * u.o + og) * u.oh * u.ow + pq, og, v);
}

//! section backward_input
// x̄[n,c,h,w] = Σ_{o,r,s} ȳ[n,o,p,q]·w[o,c,r,s] over the (p,q) whose window puts tap (r,s) on (h,w).
// M = n·h·w, N = c, K = o·kh·kw.
fn loadA(m: u32, k: u32) -> f32 {
  let nhw = unravel3(m, u.h, u.w);
  let ors = unravel3(k, KH, KW);
  let o = u.grp * u.og + ors.x;
  let ph = i32(nhw.y + PH) - i32(ors.y * DH);
  let pw = i32(nhw.z + PW) - i32(ors.z * DW);
  let p = u32(ph) / SH; let q = u32(pw) / SW;
  let inside = (ph >= 0) & (pw >= 0) & (u32(ph) % SH == 0u) & (u32(pw) % SW == 0u) & (p < u.oh) & (q < u.ow);
  return select(0.0, gy[select(0u, nchw(nhw.x, o, p, q, u.o, u.oh, u.ow), inside)], inside);
}
fn loadB(k: u32, c: u32) -> f32 {
  let taps = KH * KW;
  return wt[((u.grp * u.og + k / taps) * u.cg + c) * taps + k % taps];
}
fn storeC(m: u32, c: u32, v: f32) {
  let hw = m % (u.h * u.w); let n = m / (u.h * u.w);
  let cc = u.grp * u.cg + c;
  epilogue((n * u.c + cc) * u.h * u.w + hw, cc, v);
}

//! section backward_filter
// w̄[o,c,r,s] = Σ_{n,p,q} ȳ[n,o,p,q]·x[n,c,p·sh+r·dh−ph,q·sw+s·dw−pw]
// M = o, N = c·kh·kw, K = n·oh·ow: a long K, which is what split-K is for.
fn loadA(o: u32, k: u32) -> f32 {
  let plane = u.oh * u.ow;
  return gy[((k / plane) * u.o + u.grp * u.og + o) * plane + k % plane];
}
fn loadB(k: u32, col: u32) -> f32 {
  let npq = unravel3(k, u.oh, u.ow);
  let crs = unravel3(col, KH, KW);
  let c = u.grp * u.cg + crs.x;
  let h = i32(npq.y * SH + crs.y * DH) - i32(PH);
  let w = i32(npq.z * SW + crs.z * DW) - i32(PW);
  let inside = (h >= 0) & (w >= 0) & (h < i32(u.h)) & (w < i32(u.w));
  return select(0.0, x[select(0u, nchw(npq.x, c, u32(h), u32(w), u.c, u.h, u.w), inside)], inside);
}
fn storeC(o: u32, col: u32, v: f32) { epilogue((u.grp * u.og + o) * u.N + col, col, v); }
