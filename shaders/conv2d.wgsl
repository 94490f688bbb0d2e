// conv2d's three passes as implicit GEMMs for the tiled mainloop in gemm.wgsl: the im2col matrix is never
// built; loadA/loadB compute its entries from NCHW indices on the fly (zero in the padding).

//! section forward
// y[n,o,p,q] = Σ_{c,r,s} w[o,c,r,s]·x[n,c,p·sh+r−ph,q·sw+s−pw]
// M = n·oh·ow (m ↦ n,p,q), N = o, K = c·kh·kw (k ↦ c,r,s).
fn loadA(m: u32, k: u32) -> f32 {
  let q = m % u.ow; let t = m / u.ow; let p = t % u.oh; let n = t / u.oh;
  let s = k % u.kw; let t2 = k / u.kw; let r = t2 % u.kh; let c = t2 / u.kh;
  let h = i32(p * u.sh + r) - i32(u.ph);
  let w = i32(q * u.sw + s) - i32(u.pw);
  if (h < 0 || w < 0 || h >= i32(u.h) || w >= i32(u.w)) { return 0.0; }
  return x[((n * u.c + c) * u.h + u32(h)) * u.w + u32(w)];
}
fn loadB(k: u32, o: u32) -> f32 { return wt[o * u.K + k]; }
fn storeC(m: u32, o: u32, v: f32) {
  let pq = m % (u.oh * u.ow); let n = m / (u.oh * u.ow);
  epilogue((n * u.o + o) * u.oh * u.ow + pq, o, v);
}

//! section backward_input
// x̄[n,c,h,w] = Σ_{o,r,s} ȳ[n,o,p,q]·w[o,c,r,s] over the (p,q) whose window puts tap (r,s) on (h,w).
// M = n·h·w, N = c, K = o·kh·kw.
fn loadA(m: u32, k: u32) -> f32 {
  let w = m % u.w; let t = m / u.w; let h = t % u.h; let n = t / u.h;
  let s = k % u.kw; let t2 = k / u.kw; let r = t2 % u.kh; let o = t2 / u.kh;
  let ph = i32(h + u.ph) - i32(r);
  let pw = i32(w + u.pw) - i32(s);
  if (ph < 0 || pw < 0) { return 0.0; }
  let p = u32(ph) / u.sh; let q = u32(pw) / u.sw;
  if (u32(ph) % u.sh != 0u || u32(pw) % u.sw != 0u || p >= u.oh || q >= u.ow) { return 0.0; }
  return gy[((n * u.o + o) * u.oh + p) * u.ow + q];
}
fn loadB(k: u32, c: u32) -> f32 {
  let taps = u.kh * u.kw;
  return wt[((k / taps) * u.c + c) * taps + k % taps];
}
fn storeC(m: u32, c: u32, v: f32) {
  let hw = m % (u.h * u.w); let n = m / (u.h * u.w);
  epilogue((n * u.c + c) * u.h * u.w + hw, c, v);
}

//! section backward_filter
// w̄[o,c,r,s] = Σ_{n,p,q} ȳ[n,o,p,q]·x[n,c,p·sh+r−ph,q·sw+s−pw]
// M = o, N = c·kh·kw, K = n·oh·ow: a long K, which is what split-K is for.
fn loadA(o: u32, k: u32) -> f32 {
  let plane = u.oh * u.ow;
  return gy[((k / plane) * u.o + o) * plane + k % plane];
}
fn loadB(k: u32, col: u32) -> f32 {
  let q = k % u.ow; let t = k / u.ow; let p = t % u.oh; let n = t / u.oh;
  let s = col % u.kw; let t2 = col / u.kw; let r = t2 % u.kh; let c = t2 / u.kh;
  let h = i32(p * u.sh + r) - i32(u.ph);
  let w = i32(q * u.sw + s) - i32(u.pw);
  if (h < 0 || w < 0 || h >= i32(u.h) || w >= i32(u.w)) { return 0.0; }
  return x[((n * u.c + c) * u.h + u32(h)) * u.w + u32(w)];
}
fn storeC(o: u32, col: u32, v: f32) { epilogue(o * u.N + col, col, v); }
