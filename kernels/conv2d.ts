// Convolution passes (NCHW, PyTorch semantics, zero padding) as GEMMs on the 4×8 micro-kernel
// (gemm.ts gemmPacked), per example, with the im2col matrix written straight into the packed layout the
// micro-kernel reads (rows padded to a multiple of 8), so nothing is copied twice:
//   forward:         Y_n[O,P] += W[O,K] · col_n[K,P]          (W is already row-major [O,K])
//   backward input:  col̄[K,P]  = Wᵀ[K,O] · Ȳ_n[O,P], then scattered back (col2im); Wᵀ is packed once per call
//   backward filter: W̄[O,K]  += Ȳ_n[O,P] · col_nᵀ[P,K]       (colᵀ written directly, padded to Kp)
// with K = C·kh·kw and P = oh·ow. Dilation (dh, dw) moves tap (r, s) to input offset (r·dh, s·dw); with
// groups G each pass runs once per group on its c/G input and o/G output channels (weight rows i·o/G…).
// ws for backward input holds Wᵀ of every group ([G][K][o/G], K = c/G·kh·kw).
import { gemmPacked } from './gemm';

@inline function round8(n: i32): i32 { return (n + 7) & ~7; }

/** The output columns q whose input column q·sw + s − pw lies inside [0, w): [qLo, qHi). */
@inline function qLo(s: i32, sw: i32, pw: i32): i32 { const d = pw - s; return d <= 0 ? 0 : (d + sw - 1) / sw; }
@inline function qHi(s: i32, sw: i32, pw: i32, w: i32, ow: i32): i32 {
  const d = w - 1 + pw - s;
  if (d < 0) return 0;
  const q = d / sw + 1;
  return q < ow ? q : ow;
}

/** col[k = (c,r,s), p] into rows of stride `stride` floats (padding columns zero). Valid runs are copied whole. */
function im2col(x: usize, c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32, col: usize, stride: i32): void {
  const P = oh * ow;
  let row = col;
  for (let ci = 0; ci < c; ci++) for (let r = 0; r < kh; r++) for (let s = 0; s < kw; s++) {
    const plane = x + (<usize>(ci * h * w) << 2);
    const sd = s * dw, lo = qLo(sd, sw, pw), hi = qHi(sd, sw, pw, w, ow);
    let out = row;
    for (let p = 0; p < oh; p++) {
      const hh = p * sh + r * dh - ph;
      if (hh < 0 || hh >= h || hi <= lo) { memory.fill(out, 0, <usize>ow << 2); out += <usize>ow << 2; continue; }
      const src = plane + (<usize>(hh * w + lo * sw + sd - pw) << 2);
      if (lo > 0) memory.fill(out, 0, <usize>lo << 2);
      if (sw == 1) memory.copy(out + (<usize>lo << 2), src, <usize>(hi - lo) << 2);
      else for (let q = lo; q < hi; q++) store<f32>(out + (<usize>q << 2), load<f32>(src + (<usize>((q - lo) * sw) << 2)));
      if (hi < ow) memory.fill(out + (<usize>hi << 2), 0, <usize>(ow - hi) << 2);
      out += <usize>ow << 2;
    }
    if (stride > P) memory.fill(out, 0, <usize>(stride - P) << 2);
    row += <usize>stride << 2;
  }
}

/** colᵀ[p, k = (c,r,s)] into rows of stride `stride` floats (padding columns zero). */
function im2colT(x: usize, c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32, colT: usize, stride: i32): void {
  const K = c * kh * kw;
  let row = colT;
  for (let p = 0; p < oh; p++) for (let q = 0; q < ow; q++) {
    let out = row;
    for (let ci = 0; ci < c; ci++) {
      const plane = x + (<usize>(ci * h * w) << 2);
      for (let r = 0; r < kh; r++) {
        const hh = p * sh + r * dh - ph;
        const inRow = hh >= 0 && hh < h;
        const src = plane + (<usize>(hh * w) << 2);
        for (let s = 0; s < kw; s++) {
          const ww = q * sw + s * dw - pw;
          store<f32>(out, inRow && ww >= 0 && ww < w ? load<f32>(src + (<usize>ww << 2)) : 0);
          out += 4;
        }
      }
    }
    for (let k = K; k < stride; k++) { store<f32>(out, 0); out += 4; }
    row += <usize>stride << 2;
  }
}

/** x += col2im(col), col rows of `stride` floats; only the valid run of each output row is read. */
function col2imAdd(col: usize, c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32, x: usize, stride: i32): void {
  let row = col;
  for (let ci = 0; ci < c; ci++) for (let r = 0; r < kh; r++) for (let s = 0; s < kw; s++) {
    const plane = x + (<usize>(ci * h * w) << 2);
    const sd = s * dw, lo = qLo(sd, sw, pw), hi = qHi(sd, sw, pw, w, ow);
    for (let p = 0; p < oh; p++) {
      const hh = p * sh + r * dh - ph;
      if (hh < 0 || hh >= h) continue;
      const src = row + (<usize>(p * ow) << 2);
      const dst = plane + (<usize>(hh * w + lo * sw + sd - pw) << 2);
      for (let q = lo; q < hi; q++) {
        const at = dst + (<usize>((q - lo) * sw) << 2);
        store<f32>(at, load<f32>(at) + load<f32>(src + (<usize>q << 2)));
      }
    }
    row += <usize>stride << 2;
  }
}

/** Copies rows [R, C] to rows of stride `stride` (padding zero). */
function padRows(src: usize, R: i32, C: i32, dst: usize, stride: i32): void {
  for (let r = 0; r < R; r++) {
    const d = dst + (<usize>(r * stride) << 2);
    memory.copy(d, src + (<usize>(r * C) << 2), <usize>C << 2);
    memory.fill(d + (<usize>C << 2), 0, <usize>(stride - C) << 2);
  }
}

/** Workspace bytes every conv pass needs (the largest of the three passes' packed operands); c per group. */
export function convWorkspaceBytes(c: i32, o: i32, kh: i32, kw: i32, oh: i32, ow: i32): i32 {
  const K = c * kh * kw, P = oh * ow, Pp = round8(P), Kp = round8(K);
  const fwd = K * Pp;
  const bwdIn = K * o + o * Pp + K * Pp + 16;
  const bwdW = P * Kp;
  let m = fwd > bwdIn ? fwd : bwdIn;
  if (bwdW > m) m = bwdW;
  return m * 4 + 256;
}

/** y[n,o,:,:] += W·col(x_n) + bias[o] (bias 0 = none); c and o are the full channel counts. */
export function conv2dForward(x: usize, wt: usize, bias: usize, y: usize, n: i32, c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, groups: i32, oh: i32, ow: i32, ws: usize): void {
  const cg = c / groups, og = o / groups, K = cg * kh * kw, P = oh * ow, Pp = round8(P);
  for (let b = 0; b < n; b++) for (let gi = 0; gi < groups; gi++) {
    im2col(x + (<usize>((b * c + gi * cg) * h * w) << 2), cg, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, ws, Pp);
    gemmPacked(wt + (<usize>(gi * og * K) << 2), ws, y + (<usize>((b * o + gi * og) * P) << 2), og, P, K, Pp, bias ? bias + (<usize>(gi * og) << 2) : 0, 0);
  }
}

/** gx[n] += col2im(Wᵀ·gy_n), per group. */
export function conv2dBackwardInput(gy: usize, wt: usize, gx: usize, n: i32, c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, groups: i32, oh: i32, ow: i32, ws: usize): void {
  const cg = c / groups, og = o / groups, K = cg * kh * kw, P = oh * ow, Pp = round8(P);
  const wT = ws, gyp = wT + (<usize>(K * o) << 2), col = (gyp + (<usize>(og * Pp) << 2) + 63) & ~63;
  // Wᵀ of group gi at wT + gi·K·og: [K, og].
  for (let gi = 0; gi < groups; gi++) {
    const src = wt + (<usize>(gi * og * K) << 2), dst = wT + (<usize>(gi * K * og) << 2);
    for (let k = 0; k < K; k++) for (let oo = 0; oo < og; oo++) store<f32>(dst + (<usize>(k * og + oo) << 2), load<f32>(src + (<usize>(oo * K + k) << 2)));
  }
  for (let b = 0; b < n; b++) for (let gi = 0; gi < groups; gi++) {
    const g = gy + (<usize>((b * o + gi * og) * P) << 2);
    let bp = g;
    if (Pp != P) { padRows(g, og, P, gyp, Pp); bp = gyp; }
    memory.fill(col, 0, <usize>(K * P) << 2);
    gemmPacked(wT + (<usize>(gi * K * og) << 2), bp, col, K, P, og, Pp, 0, 0);
    col2imAdd(col, cg, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, gx + (<usize>((b * c + gi * cg) * h * w) << 2), P);
  }
}

/** gw[O,K] += Σ_n gy_n[O,P]·col(x_n)ᵀ, per group (gw is [o, c/G·kh·kw]). */
export function conv2dBackwardFilter(gy: usize, x: usize, gw: usize, n: i32, c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, groups: i32, oh: i32, ow: i32, ws: usize): void {
  const cg = c / groups, og = o / groups, K = cg * kh * kw, P = oh * ow, Kp = round8(K);
  for (let b = 0; b < n; b++) for (let gi = 0; gi < groups; gi++) {
    im2colT(x + (<usize>((b * c + gi * cg) * h * w) << 2), cg, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, ws, Kp);
    gemmPacked(gy + (<usize>((b * o + gi * og) * P) << 2), ws, gw + (<usize>(gi * og * K) << 2), og, K, P, Kp, 0, 0);
  }
}
