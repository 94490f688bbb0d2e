// conv2d's three passes as implicit GEMMs for the GEMM kernels in gemm.wgsl: the im2col matrix is never
// built; loadA/loadB compute its entries from NCHW indices on the fly (zero in the padding). The bounds
// tests are branch-free (non-short-circuit `&`, a select of the index and of the value): SIMD adapters run
// both sides of a branch anyway, and chains of early returns, inlined 16 times into the direct kernel, made
// SwiftShader's compiler take minutes. Grouped convolutions run one GEMM per group (uniform grp; cg, og
// channels per group), each on its own slice of channels and weights. The kernel size, stride, padding and dilation are compile-time constants (KH,
// KW, SH, SW, PH, PW, DH, DW: few distinct values per model), so their divisions become multiplies and shifts, or
// vanish at stride 1 (20–30% of these kernels' time on SwiftShader); so are the spatial sizes (IH, IW, OH, OW:
// one set per layer, whatever the batch), so no loader or store divides by a runtime value of a pixel grid.
// The batch and channel counts stay uniforms.

//! section forward
// y[n,o,p,q] = Σ_{c,r,s} w[o,c,r,s]·x[n,c,p·sh+r·dh−ph,q·sw+s·dw−pw] (dh, dw: dilation)
// M = n·oh·ow (m ↦ n,p,q), N = o, K = c·kh·kw (k ↦ c,r,s).
fn loadA(m: u32, k: u32) -> f32 {
  let npq = unravel3(m, OH, OW);
  let crs = unravel3(k, KH, KW);
  let c = u.grp * u.cg + crs.x;
  let h = i32(npq.y * SH + crs.y * DH) - i32(PH);
  let w = i32(npq.z * SW + crs.z * DW) - i32(PW);
  let inside = (h >= 0) & (w >= 0) & (h < i32(IH)) & (w < i32(IW));
  return select(0.0, x[select(0u, nchw(npq.x, c, u32(h), u32(w), u.c, IH, IW), inside)], inside);
}
fn loadB(k: u32, o: u32) -> f32 { return wt[(u.grp * u.og + o) * u.K + k]; }
fn storeC(m: u32, o: u32, v: f32) {
  let pq = m % (OH * OW); let n = m / (OH * OW);
  let og = u.grp * u.og + o;
  epilogue((n * u.o + og) * OH * OW + pq, og, v);
}

//! section backward_input
// x̄[n,c,h,w] = Σ_{o,r,s} ȳ[n,o,p,q]·w[o,c,r,s] over the (p,q) whose window puts tap (r,s) on (h,w).
// M = n·h·w, N = c, K = o·kh·kw.
fn loadA(m: u32, k: u32) -> f32 {
  let nhw = unravel3(m, IH, IW);
  let ors = unravel3(k, KH, KW);
  let o = u.grp * u.og + ors.x;
  let ph = i32(nhw.y + PH) - i32(ors.y * DH);
  let pw = i32(nhw.z + PW) - i32(ors.z * DW);
  let p = u32(ph) / SH; let q = u32(pw) / SW;
  let inside = (ph >= 0) & (pw >= 0) & (u32(ph) % SH == 0u) & (u32(pw) % SW == 0u) & (p < OH) & (q < OW);
  return select(0.0, gy[select(0u, nchw(nhw.x, o, p, q, u.o, OH, OW), inside)], inside);
}
fn loadB(k: u32, c: u32) -> f32 {
  let taps = KH * KW;
  return wt[((u.grp * u.og + k / taps) * u.cg + c) * taps + k % taps];
}
fn storeC(m: u32, c: u32, v: f32) {
  let hw = m % (IH * IW); let n = m / (IH * IW);
  let cc = u.grp * u.cg + c;
  epilogue((n * u.c + cc) * IH * IW + hw, cc, v);
}

//! section backward_input_phase
// backward_input at stride > 1 (dilation 1) without the zero taps: one GEMM per phase (PHASE_H, PHASE_W) of
// the input grid, the pixels h = PHASE_H + SH·hh, w = PHASE_W + SW·ww. Only the taps r = R0H + SH·th,
// s = R0W + SW·tw put a window on such a pixel (r ≡ h + PH mod SH), so K = o·TAPS_H·TAPS_W, a quarter of
// backward_input's at stride 2, whose other taps multiply zeros. The nonzero terms come in the same order
// (o, r, s) as there, and fma(0, w, acc) = acc: the sums are the same. M = n·PH_ROWS·PW_COLS, N = c.
// p = (h + PH − r)/SH = hh + OFF_H − th (OFF_H = (PHASE_H + PH − R0H)/SH, exact), likewise q.
fn loadA(m: u32, k: u32) -> f32 {
  let nhw = unravel3(m, PH_ROWS, PW_COLS);
  let ots = unravel3(k, TAPS_H, TAPS_W);
  let o = u.grp * u.og + ots.x;
  let p = i32(nhw.y + OFF_H) - i32(ots.y);
  let q = i32(nhw.z + OFF_W) - i32(ots.z);
  let inside = (p >= 0) & (q >= 0) & (p < i32(OH)) & (q < i32(OW));
  return select(0.0, gy[select(0u, nchw(nhw.x, o, u32(p), u32(q), u.o, OH, OW), inside)], inside);
}
fn loadB(k: u32, c: u32) -> f32 {
  let ots = unravel3(k, TAPS_H, TAPS_W);
  let r = R0H + SH * ots.y;
  let s = R0W + SW * ots.z;
  return wt[((u.grp * u.og + ots.x) * u.cg + c) * KH * KW + r * KW + s];
}
fn storeC(m: u32, c: u32, v: f32) {
  let nhw = unravel3(m, PH_ROWS, PW_COLS);
  let cc = u.grp * u.cg + c;
  let h = PHASE_H + SH * nhw.y;
  let w = PHASE_W + SW * nhw.z;
  epilogue(nchw(nhw.x, cc, h, w, u.c, IH, IW), cc, v);
}

//! section backward_filter
// w̄[o,c,r,s] = Σ_{n,p,q} ȳ[n,o,p,q]·x[n,c,p·sh+r·dh−ph,q·sw+s·dw−pw]
// M = o, N = c·kh·kw, K = n·oh·ow: a long K, which is what split-K is for.
fn loadA(o: u32, k: u32) -> f32 {
  let plane = OH * OW;
  return gy[((k / plane) * u.o + u.grp * u.og + o) * plane + k % plane];
}
fn loadB(k: u32, col: u32) -> f32 {
  let npq = unravel3(k, OH, OW);
  let crs = unravel3(col, KH, KW);
  let c = u.grp * u.cg + crs.x;
  let h = i32(npq.y * SH + crs.y * DH) - i32(PH);
  let w = i32(npq.z * SW + crs.z * DW) - i32(PW);
  let inside = (h >= 0) & (w >= 0) & (h < i32(IH)) & (w < i32(IW));
  return select(0.0, x[select(0u, nchw(npq.x, c, u32(h), u32(w), u.c, IH, IW), inside)], inside);
}
fn storeC(o: u32, col: u32, v: f32) { epilogue((u.grp * u.og + o) * u.N + col, col, v); }
