// Convolution passes (NCHW, PyTorch semantics, zero padding), with K = C·kh·kw and P = oh·ow. Forward and
// backward input run as GEMMs on the 4×8 micro-kernel (gemm.ts gemmPacked), per example, with the im2col
// matrix written straight into the packed layout the micro-kernel reads (rows padded to a multiple of 8), so
// nothing is copied twice:
//   forward:         Y_n[O,P] += W[O,K] · col_n[K,P]          (W is already row-major [O,K])
//   backward input:  col̄[K,P]  = Wᵀ[K,O] · Ȳ_n[O,P], then scattered back (col2im); Wᵀ is packed once per call
// or, for stride 1, on the direct kernels below. Backward filter, W̄[O,K] += Σ_n Ȳ_n[O,P] · col_nᵀ[P,K], is a
// register-blocked reduction over pixels (its own section below). Dilation (dh, dw) moves tap (r, s) to input
// offset (r·dh, s·dw); with groups G each pass runs once per group on its c/G input and o/G output channels
// (weight rows i·o/G…). ws for backward input holds Wᵀ of every group ([G][K][o/G], K = c/G·kh·kw).
import { gemmPacked } from './gemm';
import { madd } from './simdmath';
import { activation } from './pointwise';

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

// ---- Direct convolution (stride 1): no im2col ----
// For stride 1 the input pixels a tile of 8 adjacent outputs needs for one tap (c, r, s) are 8 adjacent
// floats of one input row, so the micro-kernel reads them with two unaligned v128 loads straight from the
// (zero-padded) input and the 4×8 GEMM runs without the im2col copy:
//   Y[o, p, q..q+7] += Σ_{c,r,s} W[o, c, r, s] · X[c, p + r, q + s .. q + s + 7].
// Output channels go 4 to a tile (weights packed [k][4], four load32_splat per tap); a remainder of one or
// two channels runs a 1-channel × 4-row tile instead (one splat, eight loads per tap), which keeps 8
// independent accumulators where a zero-padded 4-channel tile would waste up to 3/4 of its work. The
// backward-input pass is the same correlation on ȳ padded by (k − 1 − p) with the filter flipped and its
// two channel axes swapped. Tiles past the right or bottom edge compute into the padding and store only the
// valid lanes and rows.

@inline function round4(n: i32): i32 { return (n + 3) & ~3; }

/** Channels done one at a time (1-channel × 4-row tiles): the remainder of O mod 4 when it is 1 or 2. */
@inline function singles(O: i32): i32 { const r = O & 3; return r <= 2 ? r : 0; }

/**
 * Packs the filter for the direct kernels: Wf[o′][k] for o′ < O′, k = (c′, r, s) < K, where Wf = W for the
 * forward pass (O′ = o, C′ = c) and Wf[c][(o, r, s)] = W[o, c, kh − 1 − r, kw − 1 − s] for backward input
 * (O′ = c, C′ = o). Layout: ⌈(O′ − singles)/4⌉ blocks of [K][4] (missing channels zero), then the single
 * channels as [K] rows.
 */
function packDirect(w: usize, o: i32, c: i32, kh: i32, kw: i32, flip: i32, dst: usize): void {
  const O = flip ? c : o, C = flip ? o : c, K = C * kh * kw, taps = kh * kw;
  const nS = singles(O), nB = O - nS, blocks = (nB + 3) >> 2;
  for (let oo = 0; oo < blocks * 4 + nS; oo++) {
    // Where channel oo's weights go: lane oo & 3 of block oo >> 2 (stride 4), or a single row (stride 1).
    const single = oo >= blocks * 4;
    const valid = single || oo < nB;
    const ch = single ? nB + oo - blocks * 4 : oo;
    let at = single ? dst + (<usize>(blocks * 4 * K + (oo - blocks * 4) * K) << 2) : dst + (<usize>(((oo >> 2) * K) * 4 + (oo & 3)) << 2);
    const step: usize = single ? 4 : 16;
    for (let ci = 0; ci < C; ci++) for (let t = 0; t < taps; t++) {
      let v: f32 = 0;
      if (valid) {
        v = flip
          ? load<f32>(w + (<usize>((ci * c + ch) * taps + taps - 1 - t) << 2))
          : load<f32>(w + (<usize>((ch * c + ci) * taps + t) << 2));
      }
      store<f32>(at, v);
      at += step;
    }
  }
}

/** Bytes packDirect writes. */
@inline function packedBytes(O: i32, K: i32): i32 {
  const nS = singles(O);
  return (((O - nS + 3) >> 2) * 4 + nS) * K * 4;
}

/**
 * One tile row's store: y[0..valid) += lo‖hi (acc) or = lo‖hi for an 8-pixel tile (`wide`), lo alone for a
 * 4-pixel one. A whole row goes as vector stores, an edge (valid < the tile's width) lane by lane through a
 * 32-byte scratch. Without acc the output is written once, so it needs no zeroing first. `wide` is a literal
 * at every call, so each inlined copy keeps only its own branch.
 */
@inline function put(y: usize, lo: v128, hi: v128, valid: i32, wide: bool, scratch: usize, acc: i32): void {
  if (valid >= (wide ? 8 : 4)) {
    v128.store(y, acc ? f32x4.add(v128.load(y), lo) : lo);
    if (wide) v128.store(y, acc ? f32x4.add(v128.load(y, 16), hi) : hi, 16);
    return;
  }
  v128.store(scratch, lo);
  if (wide) v128.store(scratch, hi, 16);
  for (let i = 0; i < valid; i++) {
    const at = y + (<usize>i << 2);
    store<f32>(at, (acc ? load<f32>(at) : 0) + load<f32>(scratch + (<usize>i << 2)));
  }
}

/** A tile's store: its four rows (channels or output rows, stepB bytes apart), the first n of them kept. */
@inline function putTile(y: usize, stepB: usize, n: i32, l0: v128, h0: v128, l1: v128, h1: v128, l2: v128, h2: v128, l3: v128, h3: v128, valid: i32, wide: bool, scratch: usize, acc: i32): void {
  put(y, l0, h0, valid, wide, scratch, acc);
  if (n > 1) put(y + stepB, l1, h1, valid, wide, scratch, acc);
  if (n > 2) put(y + 2 * stepB, l2, h2, valid, wide, scratch, acc);
  if (n > 3) put(y + 3 * stepB, l3, h3, valid, wide, scratch, acc);
}

/**
 * One 4-channel tile: Y[o0..o0+3, p, q..q+7] (`wide`) or Y[o0..o0+3, p, q..q+3] (a right edge of ≤ 4 pixels)
 * with x at input (0, p, q), wp at the block's [K][4] weights; `nO` channels of the four are stored (the rest
 * are padding). Per tap: four weight splats and one or two input loads.
 */
@inline function tile4(wide: bool, wp: usize, x: usize, C: i32, kh: i32, kw: i32, r0: i32, r1: i32, planeB: usize, rowB: usize, y: usize, outPlaneB: usize, nO: i32, valid: i32, bias: usize, scratch: usize, acc: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  // Only the filter rows r0 ≤ r < r1 can meet nonzero input (the rest read zero padding): skip the others.
  const head = <usize>(r0 * kw * 16), tail = <usize>((kh - r1) * kw * 16);
  let wk = wp;
  let plane = x + <usize>r0 * rowB;
  for (let ci = 0; ci < C; ci++) {
    let row = plane;
    wk += head;
    for (let r = r0; r < r1; r++) {
      let px = row;
      for (let s = 0; s < kw; s++) {
        const x0 = v128.load32_splat(wk), x1 = v128.load32_splat(wk, 4), x2 = v128.load32_splat(wk, 8), x3 = v128.load32_splat(wk, 12);
        const b0 = v128.load(px);
        c00 = madd(x0, b0, c00); c10 = madd(x1, b0, c10); c20 = madd(x2, b0, c20); c30 = madd(x3, b0, c30);
        if (wide) {
          const b1 = v128.load(px, 16);
          c01 = madd(x0, b1, c01); c11 = madd(x1, b1, c11); c21 = madd(x2, b1, c21); c31 = madd(x3, b1, c31);
        }
        wk += 16;
        px += 4;
      }
      row += rowB;
    }
    wk += tail;
    plane += planeB;
  }
  if (bias) {
    const b0 = v128.load32_splat(bias), b1 = v128.load32_splat(bias, 4), b2 = v128.load32_splat(bias, 8), b3 = v128.load32_splat(bias, 12);
    c00 = f32x4.add(c00, b0); c01 = f32x4.add(c01, b0); c10 = f32x4.add(c10, b1); c11 = f32x4.add(c11, b1);
    c20 = f32x4.add(c20, b2); c21 = f32x4.add(c21, b2); c30 = f32x4.add(c30, b3); c31 = f32x4.add(c31, b3);
  }
  putTile(y, outPlaneB, nO, c00, c01, c10, c11, c20, c21, c30, c31, valid, wide, scratch, acc);
}

/**
 * One 1-channel × 4-row tile: Y[o, p..p+3, q..q+7] (`wide`) or Y[o, p..p+3, q..q+3], wp at the channel's [K]
 * weights; `rows` rows stored. Per tap: one weight splat and four or eight input loads.
 */
@inline function tileRows4(wide: bool, wp: usize, x: usize, C: i32, kh: i32, kw: i32, r0: i32, r1: i32, planeB: usize, rowB: usize, y: usize, outRowB: usize, rows: i32, valid: i32, bias: f32, scratch: usize, acc: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  // Only the filter rows r0 ≤ r < r1 can meet nonzero input (the rest read zero padding): skip the others.
  const head = <usize>(r0 * kw * 4), tail = <usize>((kh - r1) * kw * 4);
  let wk = wp;
  let plane = x + <usize>r0 * rowB;
  for (let ci = 0; ci < C; ci++) {
    let row = plane;
    wk += head;
    for (let r = r0; r < r1; r++) {
      let p0 = row;
      const p1 = rowB, p2 = 2 * rowB, p3 = 3 * rowB;
      for (let s = 0; s < kw; s++) {
        const wv = v128.load32_splat(wk);
        c00 = madd(wv, v128.load(p0), c00); c10 = madd(wv, v128.load(p0 + p1), c10);
        c20 = madd(wv, v128.load(p0 + p2), c20); c30 = madd(wv, v128.load(p0 + p3), c30);
        if (wide) {
          c01 = madd(wv, v128.load(p0, 16), c01); c11 = madd(wv, v128.load(p0 + p1, 16), c11);
          c21 = madd(wv, v128.load(p0 + p2, 16), c21); c31 = madd(wv, v128.load(p0 + p3, 16), c31);
        }
        wk += 4;
        p0 += 4;
      }
      row += rowB;
    }
    wk += tail;
    plane += planeB;
  }
  const b = f32x4.splat(bias);
  putTile(y, outRowB, rows, f32x4.add(c00, b), f32x4.add(c01, b), f32x4.add(c10, b), f32x4.add(c11, b), f32x4.add(c20, b), f32x4.add(c21, b), f32x4.add(c30, b), f32x4.add(c31, b), valid, wide, scratch, acc);
}

/**
 * Y[O, oh, ow] += correlation of X (C planes of `xh` rows × `xw` floats, padded so that every tile's reads,
 * rows up to round4(oh) + kh − 1 and columns up to round8(ow) + kw − 1, stay inside it when there are
 * single channels, and columns up to round8(ow) + kw − 1 otherwise) with the packed filter. Input rows
 * outside [lo, hi) are zero padding: filter rows that would only meet them are skipped.
 */
function directCorrelate(x: usize, C: i32, xh: i32, xw: i32, lo: i32, hi: i32, wp: usize, O: i32, kh: i32, kw: i32, oh: i32, ow: i32, y: usize, bias: usize, scratch: usize, acc: i32): void {
  const K = C * kh * kw, nS = singles(O), nB = O - nS, blocks = (nB + 3) >> 2;
  const planeB = <usize>(xh * xw) << 2, rowB = <usize>xw << 2, outRowB = <usize>ow << 2, outPlaneB = <usize>(oh * ow) << 2;
  for (let blk = 0; blk < blocks; blk++) {
    const o0 = blk * 4, nO = nB - o0 < 4 ? nB - o0 : 4;
    const wb = wp + (<usize>(blk * K * 4) << 2);
    // The bias of a partial block is read through the scratch (4 floats, missing ones zero).
    let bb: usize = 0;
    if (bias) {
      bb = scratch + 32;
      for (let j = 0; j < 4; j++) store<f32>(bb + (<usize>j << 2), j < nO ? load<f32>(bias + (<usize>(o0 + j) << 2)) : 0);
    }
    const yb = y + <usize>o0 * outPlaneB;
    for (let p = 0; p < oh; p++) {
      const r0 = lo - p > 0 ? lo - p : 0, r1 = hi - p < kh ? hi - p : kh;
      let q = 0;
      for (; q + 4 < ow; q += 8) {
        tile4(true, wb, x + <usize>p * rowB + (<usize>q << 2), C, kh, kw, r0, r1 > r0 ? r1 : r0, planeB, rowB, yb + <usize>p * outRowB + (<usize>q << 2), outPlaneB, nO, ow - q, bb, scratch, acc);
      }
      if (q < ow) tile4(false, wb, x + <usize>p * rowB + (<usize>q << 2), C, kh, kw, r0, r1 > r0 ? r1 : r0, planeB, rowB, yb + <usize>p * outRowB + (<usize>q << 2), outPlaneB, nO, ow - q, bb, scratch, acc);
    }
  }
  for (let j = 0; j < nS; j++) {
    const o = nB + j;
    const ws = wp + (<usize>(blocks * 4 * K + j * K) << 2);
    const bv: f32 = bias ? load<f32>(bias + (<usize>o << 2)) : 0;
    const yo = y + <usize>o * outPlaneB;
    for (let p = 0; p < oh; p += 4) {
      // The union over the tile's four rows p … p + 3.
      const r0 = lo - p - 3 > 0 ? lo - p - 3 : 0, r1 = hi - p < kh ? hi - p : kh;
      let q = 0;
      for (; q + 4 < ow; q += 8) {
        tileRows4(true, ws, x + <usize>p * rowB + (<usize>q << 2), C, kh, kw, r0, r1 > r0 ? r1 : r0, planeB, rowB, yo + <usize>p * outRowB + (<usize>q << 2), outRowB, oh - p, ow - q, bv, scratch, acc);
      }
      if (q < ow) tileRows4(false, ws, x + <usize>p * rowB + (<usize>q << 2), C, kh, kw, r0, r1 > r0 ? r1 : r0, planeB, rowB, yo + <usize>p * outRowB + (<usize>q << 2), outRowB, oh - p, ow - q, bv, scratch, acc);
    }
  }
}

/** Copies C planes [h, w] into zeroed planes [H, W] at row offset top and column offset left. */
function padPlanes(x: usize, C: i32, h: i32, w: i32, top: i32, left: i32, dst: usize, H: i32, W: i32): void {
  // Rows are short (a few dozen floats): copied by v128 loads and stores, as memory.copy calls out of line.
  memory.fill(dst, 0, <usize>(C * H * W) << 2);
  const w4 = w & ~3;
  for (let ci = 0; ci < C; ci++) for (let i = 0; i < h; i++) {
    const d = dst + (<usize>((ci * H + top + i) * W + left) << 2), src = x + (<usize>((ci * h + i) * w) << 2);
    let j = 0;
    for (; j < w4; j += 4) v128.store(d + (<usize>j << 2), v128.load(src + (<usize>j << 2)));
    for (; j < w; j++) store<f32>(d + (<usize>j << 2), load<f32>(src + (<usize>j << 2)));
  }
}

/** Whether the direct kernels apply: stride 1, no dilation, one group, padding below the kernel size (ȳ's padding ≥ 0). */
function convDirect(kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, groups: i32): i32 {
  return sh == 1 && sw == 1 && dh == 1 && dw == 1 && groups == 1 && ph < kh && pw < kw ? 1 : 0;
}

/** Workspace bytes of the direct passes (scratch, packed filter, one padded example), bounded from oh, ow. */
function directWorkspaceBytes(c: i32, o: i32, kh: i32, kw: i32, oh: i32, ow: i32): i32 {
  const H = round4(oh + kh - 1) + kh - 1, W = round8(ow + kw - 1) + kw - 1;
  const f = packedBytes(o, c * kh * kw), b = packedBytes(c, o * kh * kw);
  return 64 + (f > b ? f : b) + 64 + (c > o ? c : o) * H * W * 4 + 64;
}

/** Forward pass of one batch on the direct kernels (convDirect true). */
function forwardDirect(x: usize, wt: usize, bias: usize, y: usize, n: i32, c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, ph: i32, pw: i32, oh: i32, ow: i32, ws: usize, acc: i32, act: i32, beta: f64, a: usize): void {
  const scratch = ws, wp = ws + 64, K = c * kh * kw;
  const xp = (wp + <usize>packedBytes(o, K) + 63) & ~63;
  packDirect(wt, o, c, kh, kw, 0, wp);
  // Read the input in place when no tile can read past it: no padding, whole 8-pixel tiles, whole 4-row tiles.
  const copy = ph != 0 || pw != 0 || (ow & 7) != 0 || (singles(o) != 0 && (oh & 3) != 0);
  const H = copy ? round4(oh) + kh - 1 : h, W = copy ? round8(ow) + kw - 1 : w;
  for (let b = 0; b < n; b++) {
    let src = x + (<usize>(b * c * h * w) << 2);
    if (copy) { padPlanes(src, c, h, w, ph, pw, xp, H, W); src = xp; }
    const yb = y + (<usize>(b * o * oh * ow) << 2);
    directCorrelate(src, c, H, W, copy ? ph : 0, copy ? ph + h : h, wp, o, kh, kw, oh, ow, yb, bias, scratch, acc);
    // The activation epilogue while the example's output is in cache.
    if (act) activation(act - 1, beta, yb, 0, a + (<usize>(b * o * oh * ow) << 2), 0, o * oh * ow);
  }
}

/** Backward-input pass of one batch on the direct kernels: ȳ padded by (k − 1 − p), filter flipped and transposed. */
function backwardInputDirect(gy: usize, wt: usize, gx: usize, n: i32, c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, ph: i32, pw: i32, oh: i32, ow: i32, ws: usize, acc: i32): void {
  const scratch = ws, wp = ws + 64, K = o * kh * kw;
  const gp = (wp + <usize>packedBytes(c, K) + 63) & ~63;
  packDirect(wt, o, c, kh, kw, 1, wp);
  const H = round4(h) + kh - 1, W = round8(w) + kw - 1;
  for (let b = 0; b < n; b++) {
    padPlanes(gy + (<usize>(b * o * oh * ow) << 2), o, oh, ow, kh - 1 - ph, kw - 1 - pw, gp, H, W);
    directCorrelate(gp, o, H, W, kh - 1 - ph, kh - 1 - ph + oh, wp, c, kh, kw, h, w, gx + (<usize>(b * c * h * w) << 2), 0, scratch, acc);
  }
}

// ---- Backward input (stride 1) on row tiles: rows as a correlation, columns as a scatter ----
// gx[c, i − ph, q + s − pw] += Σ_r Σ_o W[o, c, r, s] · ȳ[o, i − r, q]: for pair k = (c, s) and padded-gx row i
// a tile of 4 pairs × 8 ȳ pixels sums over the filter rows r that meet real ȳ rows and over o in registers
// (one input load a half and four weight splats per step: the forward tile's ratio), then adds its four rows
// into gx rows padded by kw − 1 columns at the pairs' column shifts. Only real ȳ pixels are read and only gx
// rows computed, where the correlation over ȳ padded by k − 1 − p spends a fifth to a third of its work on
// the zero border of LeNet-sized layers; the stores come once per o·(filter rows) steps.

/** W packed for the row tiles: group g of 4 pairs (c, s) as [kh][o][4] (pairs past c·kw zero), at dst. */
function packRowPairs(w: usize, o: i32, c: i32, kh: i32, kw: i32, dst: usize): void {
  const K2 = c * kw, groups = (K2 + 3) >> 2;
  for (let g = 0; g < groups; g++) for (let r = 0; r < kh; r++) for (let oo = 0; oo < o; oo++) for (let i = 0; i < 4; i++) {
    const k = g * 4 + i, ci = k / kw, s = k % kw;
    const v: f32 = k < K2 ? load<f32>(w + (<usize>(((oo * c + ci) * kh + r) * kw + s) << 2)) : 0;
    store<f32>(dst + (<usize>(((g * kh + r) * o + oo) * 4 + i) << 2), v);
  }
}

/** t0..t3 (the first nP) += Σ_{r0 ≤ r < r1} Σ_o wg[r][o][i] · ȳ[o, row of y − r + r0, 8 pixels]. */
function rowTile(wg: usize, y: usize, yRowB: usize, yPlaneB: usize, O: i32, r0: i32, r1: i32, t0: usize, t1: usize, t2: usize, t3: usize, nP: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let wk = wg + (<usize>(r0 * O) << 4), yr = y;
  for (let r = r0; r < r1; r++) {
    let yk = yr;
    for (let oo = 0; oo < O; oo++) {
      const b0 = v128.load(yk), b1 = v128.load(yk, 16);
      const x0 = v128.load32_splat(wk), x1 = v128.load32_splat(wk, 4), x2 = v128.load32_splat(wk, 8), x3 = v128.load32_splat(wk, 12);
      c00 = madd(x0, b0, c00); c01 = madd(x0, b1, c01);
      c10 = madd(x1, b0, c10); c11 = madd(x1, b1, c11);
      c20 = madd(x2, b0, c20); c21 = madd(x2, b1, c21);
      c30 = madd(x3, b0, c30); c31 = madd(x3, b1, c31);
      wk += 16;
      yk += yPlaneB;
    }
    yr -= yRowB;
  }
  put(t0, c00, c01, 8, true, 0, 1);
  if (nP > 1) put(t1, c10, c11, 8, true, 0, 1);
  if (nP > 2) put(t2, c20, c21, 8, true, 0, 1);
  if (nP > 3) put(t3, c30, c31, 8, true, 0, 1);
}

/**
 * rowTile for the last group's left-over pairs 0 and 1 (weights at lanes 0 and 1) × two ȳ blocks of 8 at y and
 * y + 32 bytes (nQ = 1: the second block repeats the first and is not stored): per step two splats and four
 * loads, the main tile's ratio.
 */
function rowTile2x2(wg: usize, y: usize, yRowB: usize, yPlaneB: usize, O: i32, r0: i32, r1: i32, t0: usize, t1: usize, nQ: i32): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let b00 = f32x4.splat(0), b01 = f32x4.splat(0), b10 = f32x4.splat(0), b11 = f32x4.splat(0);
  const d: usize = nQ > 1 ? 32 : 0;
  let wk = wg + (<usize>(r0 * O) << 4), yr = y;
  for (let r = r0; r < r1; r++) {
    let yk = yr;
    for (let oo = 0; oo < O; oo++) {
      const y0 = v128.load(yk), y1 = v128.load(yk, 16), y2 = v128.load(yk + d), y3 = v128.load(yk + d, 16);
      const x0 = v128.load32_splat(wk), x1 = v128.load32_splat(wk, 4);
      a00 = madd(x0, y0, a00); a01 = madd(x0, y1, a01); a10 = madd(x0, y2, a10); a11 = madd(x0, y3, a11);
      b00 = madd(x1, y0, b00); b01 = madd(x1, y1, b01); b10 = madd(x1, y2, b10); b11 = madd(x1, y3, b11);
      wk += 16;
      yk += yPlaneB;
    }
    yr -= yRowB;
  }
  put(t0, a00, a01, 8, true, 0, 1);
  put(t1, b00, b01, 8, true, 0, 1);
  if (nQ > 1) {
    put(t0 + 32, a10, a11, 8, true, 0, 1);
    put(t1 + 32, b10, b11, 8, true, 0, 1);
  }
}

/**
 * rowTile for one left-over pair (weights at wl, a lane of the group's [4]) × up to four ȳ blocks of 8 from y
 * (blocks ≥ nQ repeat the first and are not stored): per step one splat and eight loads.
 */
function rowTile1x4(wl: usize, y: usize, yRowB: usize, yPlaneB: usize, O: i32, r0: i32, r1: i32, t: usize, nQ: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const d1: usize = nQ > 1 ? 32 : 0, d2: usize = nQ > 2 ? 64 : 0, d3: usize = nQ > 3 ? 96 : 0;
  let wk = wl + (<usize>(r0 * O) << 4), yr = y;
  for (let r = r0; r < r1; r++) {
    let yk = yr;
    for (let oo = 0; oo < O; oo++) {
      const x = v128.load32_splat(wk);
      c00 = madd(x, v128.load(yk), c00); c01 = madd(x, v128.load(yk, 16), c01);
      c10 = madd(x, v128.load(yk + d1), c10); c11 = madd(x, v128.load(yk + d1, 16), c11);
      c20 = madd(x, v128.load(yk + d2), c20); c21 = madd(x, v128.load(yk + d2, 16), c21);
      c30 = madd(x, v128.load(yk + d3), c30); c31 = madd(x, v128.load(yk + d3, 16), c31);
      wk += 16;
      yk += yPlaneB;
    }
    yr -= yRowB;
  }
  put(t, c00, c01, 8, true, 0, 1);
  if (nQ > 1) put(t + 32, c10, c11, 8, true, 0, 1);
  if (nQ > 2) put(t + 64, c20, c21, 8, true, 0, 1);
  if (nQ > 3) put(t + 96, c30, c31, 8, true, 0, 1);
}

/** Row length (floats) of the padded gx rows: every tile's 8 pixels at every column shift stay inside. */
@inline function rowsCols(ow: i32, kw: i32): i32 { return round8(ow) + kw - 1; }

/**
 * Whether backward input runs on row tiles rather than as the correlation over padded ȳ, which computes
 * round4(w) columns of each gx row where only ow meet ȳ, but whose tiles run faster: row tiles when more than
 * an eighth of those columns are border. Measured (1 thread, row tiles / correlation): 1.2–1.34 for LeNet conv1
 * (c = 1, o = 6–12, ow/round4(w) = 24/28), 1.11–1.43 for 5×5 layers at 8/12 and 10/16 (o = 6–12); 0.71–0.75 at
 * 14/16 (3×3, 16 channels) and 0.74–0.84 for 3×3 padding-1 layers (ow = w); 0.81 at 26/28 (3×3, 8 channels).
 */
@inline function rowsPay(w: i32, ow: i32): bool { return 8 * ow < 7 * round4(w); }

/** Workspace bytes of backwardInputRows: packed W, pair offsets, padded ȳ, padded gx rows. */
function rowsWorkspaceBytes(c: i32, o: i32, kh: i32, kw: i32, h: i32, oh: i32, ow: i32): i32 {
  const groups = (c * kw + 3) >> 2;
  return groups * kh * o * 16 + groups * 16 + o * oh * round8(ow) * 4 + c * h * rowsCols(ow, kw) * 4 + 64;
}

/** Backward-input pass of one batch (convDirect true) on row tiles; acc: add into gx, else overwrite it. */
function backwardInputRows(gy: usize, wt: usize, gx: usize, n: i32, c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, ph: i32, pw: i32, oh: i32, ow: i32, ws: usize, acc: i32): void {
  const K2 = c * kw, groups = (K2 + 3) >> 2, W8 = round8(ow), W = rowsCols(ow, kw);
  // The padded gx holds only gx's h rows (row i of gx is padded row i + ph), W columns.
  const rowB = <usize>W << 2, planeB = <usize>(h * W) << 2;
  const wp = ws, offs = wp + (<usize>(groups * kh * o) << 4), ys = offs + (<usize>groups << 4);
  const gp = ys + (<usize>(o * oh * W8) << 2);
  packRowPairs(wt, o, c, kh, kw, wp);
  for (let k = 0; k < groups * 4; k++) {
    const kk = k < K2 ? k : K2 - 1;
    store<i32>(offs + (<usize>k << 2), <i32>(<usize>(kk / kw) * planeB + (<usize>(kk % kw) << 2)));
  }
  const yRowB = <usize>W8 << 2, yPlaneB = <usize>(oh * W8) << 2;
  for (let b = 0; b < n; b++) {
    let y = gy + (<usize>(b * o * oh * ow) << 2);
    if (W8 != ow) { padRows(y, o * oh, ow, ys, W8); y = ys; }
    memory.fill(gp, 0, <usize>c * planeB);
    for (let g = 0; g < groups; g++) {
      const nP = K2 - g * 4 < 4 ? K2 - g * 4 : 4, at = offs + (<usize>g << 4);
      const t0 = gp + <usize>load<i32>(at), t1 = gp + <usize>load<i32>(at, 4), t2 = gp + <usize>load<i32>(at, 8), t3 = gp + <usize>load<i32>(at, 12);
      const wg = wp + (<usize>(g * kh * o) << 4);
      for (let i = 0; i < h; i++) {
        // Padded row ip = i + ph meets ȳ row ip − r for r0 ≤ r < r1.
        const ip = i + ph, r0 = ip - oh + 1 > 0 ? ip - oh + 1 : 0, r1 = ip + 1 < kh ? ip + 1 : kh;
        if (r0 >= r1) continue;
        const yo = y + <usize>(ip - r0) * yRowB, to = <usize>i * rowB;
        if (nP == 4) {
          for (let q = 0; q < W8; q += 8) {
            const qo = <usize>q << 2;
            rowTile(wg, yo + qo, yRowB, yPlaneB, o, r0, r1, t0 + to + qo, t1 + to + qo, t2 + to + qo, t3 + to + qo, 4);
          }
          continue;
        }
        // The last group's 1 to 3 pairs: two at a time over pairs of blocks, an odd one over four blocks.
        const nQ = W8 >> 3;
        if (nP >= 2) {
          for (let q = 0; q < nQ; q += 2) {
            const qo = <usize>q << 5;
            rowTile2x2(wg, yo + qo, yRowB, yPlaneB, o, r0, r1, t0 + to + qo, t1 + to + qo, nQ - q < 2 ? 1 : 2);
          }
        }
        if (nP & 1) {
          const wl = wg + (<usize>(nP - 1) << 2), tl = nP == 1 ? t0 : t2;
          for (let q = 0; q < nQ; q += 4) {
            const qo = <usize>q << 5;
            rowTile1x4(wl, yo + qo, yRowB, yPlaneB, o, r0, r1, tl + to + qo, nQ - q < 4 ? nQ - q : 4);
          }
        }
      }
    }
    // Column pw… of the padded rows is gx's column 0.
    const gxb = gx + (<usize>(b * c * h * w) << 2), w4 = w & ~3;
    for (let ci = 0; ci < c; ci++) for (let i = 0; i < h; i++) {
      const src = gp + <usize>ci * planeB + <usize>i * rowB + (<usize>pw << 2), dst = gxb + (<usize>((ci * h + i) * w) << 2);
      let j = 0;
      for (; j < w4; j += 4) {
        const at = <usize>j << 2, v = v128.load(src + at);
        v128.store(dst + at, acc ? f32x4.add(v128.load(dst + at), v) : v);
      }
      for (; j < w; j++) {
        const at = <usize>j << 2;
        store<f32>(dst + at, (acc ? load<f32>(dst + at) : 0) + load<f32>(src + at));
      }
    }
  }
}

/** Workspace bytes the forward and backward-input passes need (the larger of their packed operands); c per group. */
export function convWorkspaceBytes(c: i32, o: i32, kh: i32, kw: i32, oh: i32, ow: i32): i32 {
  const K = c * kh * kw, P = oh * ow, Pp = round8(P);
  const fwd = K * Pp;
  const bwdIn = K * o + o * Pp + K * Pp + 16;
  const m = fwd > bwdIn ? fwd : bwdIn;
  // Backward input's row tiles hold h ≤ oh + kh − 1 padded gx rows (stride 1).
  const direct = directWorkspaceBytes(c, o, kh, kw, oh, ow), rows = rowsWorkspaceBytes(c, o, kh, kw, oh + kh - 1, oh, ow);
  const d = direct > rows ? direct : rows;
  return m * 4 + 256 > d ? m * 4 + 256 : d;
}

/**
 * y[n,o,:,:] += W·col(x_n) + bias[o] (bias 0 = none), or = when `overwrite` (y need not be zeroed); c and o are
 * the full channel counts. act ≠ 0: also a = σ(y) for activation kind act − 1 (pointwise.ts codes), per example
 * while its output is in cache.
 */
export function conv2dForward(x: usize, wt: usize, bias: usize, y: usize, n: i32, c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, groups: i32, oh: i32, ow: i32, ws: usize, overwrite: i32, act: i32, beta: f64, a: usize): void {
  if (convDirect(kh, kw, sh, sw, ph, pw, dh, dw, groups)) { forwardDirect(x, wt, bias, y, n, c, h, w, o, kh, kw, ph, pw, oh, ow, ws, overwrite ? 0 : 1, act, beta, a); return; }
  const cg = c / groups, og = o / groups, K = cg * kh * kw, P = oh * ow, Pp = round8(P);
  for (let b = 0; b < n; b++) {
    const yb = y + (<usize>(b * o * P) << 2);
    if (overwrite) memory.fill(yb, 0, <usize>(o * P) << 2);
    for (let gi = 0; gi < groups; gi++) {
      im2col(x + (<usize>((b * c + gi * cg) * h * w) << 2), cg, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, ws, Pp);
      gemmPacked(wt + (<usize>(gi * og * K) << 2), ws, yb + (<usize>(gi * og * P) << 2), og, P, K, Pp, bias ? bias + (<usize>(gi * og) << 2) : 0, 0);
    }
    if (act) activation(act - 1, beta, yb, 0, a + (<usize>(b * o * P) << 2), 0, o * P);
  }
}

/** gx[n] += col2im(Wᵀ·gy_n), per group; = when `overwrite` (gx need not be zeroed). */
export function conv2dBackwardInput(gy: usize, wt: usize, gx: usize, n: i32, c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, groups: i32, oh: i32, ow: i32, ws: usize, overwrite: i32): void {
  if (convDirect(kh, kw, sh, sw, ph, pw, dh, dw, groups)) {
    if (rowsPay(w, ow)) backwardInputRows(gy, wt, gx, n, c, h, w, o, kh, kw, ph, pw, oh, ow, ws, overwrite ? 0 : 1);
    else backwardInputDirect(gy, wt, gx, n, c, h, w, o, kh, kw, ph, pw, oh, ow, ws, overwrite ? 0 : 1);
    return;
  }
  if (overwrite) memory.fill(gx, 0, <usize>(n * c * h * w) << 2);
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

// ---- Backward filter: a register-blocked SIMD reduction over output pixels ----
// W̄[o, k] = Σ_n Σ_pixels Ȳ_n[o, pixel] · S_n,k[pixel], where S_k is what tap k = (c, r, s) reads. For sw = 1
// four adjacent output pixels of a row read four adjacent input floats, so S_k is the input itself, shifted by
// the tap's offset (read in place, or from a zero-padded copy of the example); for sw > 1 it is row k of the
// example's im2col matrix. A tile keeps 8 v128 accumulators (4 channels × 2 taps, 2 × 4 or 1 × 8: six to nine
// loads per eight multiply-adds) over every pixel of an example; their lanes are four pixel classes. The
// accumulators of a chunk of examples live in a workspace [og][K] of v128 and their lanes are summed once per
// chunk into the chunk's partial W̄. Chunks depend on the batch size alone, so threads that each take a range
// of chunks compute the same partials as one thread, and conv2dBackwardFilterSum adds them in chunk order:
// the result is bitwise the same for any thread count.

/** The index i < n, or the last valid one n − 1 (padding positions of a tile repeat a valid operand). */
@inline function upTo(i: i32, n: i32): i32 { return i < n ? i : n - 1; }

/** A tile position's accumulator from its slot, or zero (and never stored) when the position is padding. */
@inline function accIn(slot: usize, ok: bool): v128 { return ok ? v128.load(slot) : f32x4.splat(0); }
@inline function accOut(slot: usize, v: v128, ok: bool): void { if (ok) v128.store(slot, v); }

/**
 * The tile's operands: Ȳ planes at a, aPlaneB apart, rows aRowB apart, R rows of Q 4-pixel vectors; tap k's
 * source at x + taps[k], rows xRowB apart; accumulators acc[o][k] (v128), rows accRowB apart.
 */
@inline function tapAt(x: usize, taps: usize, k: i32): usize { return x + <usize>load<i32>(taps + (<usize>k << 2)); }

/** acc[i][k0 + j] += Σ Ȳ[i] · S_{k0+j} for channels i < nO ≤ 4 (from a) and taps j < nT ≤ 2. */
function tile4x2(a: usize, aPlaneB: usize, aRowB: usize, x: usize, xRowB: usize, taps: usize, k0: i32, nO: i32, nT: i32, R: i32, Q: i32, acc: usize, accRowB: usize): void {
  const a0 = a, a1 = a + <usize>upTo(1, nO) * aPlaneB, a2 = a + <usize>upTo(2, nO) * aPlaneB, a3 = a + <usize>upTo(3, nO) * aPlaneB;
  const x0 = tapAt(x, taps, k0), x1 = tapAt(x, taps, k0 + upTo(1, nT));
  const s = acc + (<usize>k0 << 4), t1 = nT > 1;
  let c00 = accIn(s, true), c01 = accIn(s + 16, t1);
  let c10 = accIn(s + accRowB, nO > 1), c11 = accIn(s + accRowB + 16, nO > 1 && t1);
  let c20 = accIn(s + 2 * accRowB, nO > 2), c21 = accIn(s + 2 * accRowB + 16, nO > 2 && t1);
  let c30 = accIn(s + 3 * accRowB, nO > 3), c31 = accIn(s + 3 * accRowB + 16, nO > 3 && t1);
  for (let p = 0; p < R; p++) {
    let ao = <usize>p * aRowB, xo = <usize>p * xRowB;
    for (let q = 0; q < Q; q++) {
      const y0 = v128.load(a0 + ao), y1 = v128.load(a1 + ao), y2 = v128.load(a2 + ao), y3 = v128.load(a3 + ao);
      const v0 = v128.load(x0 + xo), v1 = v128.load(x1 + xo);
      c00 = madd(y0, v0, c00); c01 = madd(y0, v1, c01);
      c10 = madd(y1, v0, c10); c11 = madd(y1, v1, c11);
      c20 = madd(y2, v0, c20); c21 = madd(y2, v1, c21);
      c30 = madd(y3, v0, c30); c31 = madd(y3, v1, c31);
      ao += 16;
      xo += 16;
    }
  }
  accOut(s, c00, true); accOut(s + 16, c01, t1);
  accOut(s + accRowB, c10, nO > 1); accOut(s + accRowB + 16, c11, nO > 1 && t1);
  accOut(s + 2 * accRowB, c20, nO > 2); accOut(s + 2 * accRowB + 16, c21, nO > 2 && t1);
  accOut(s + 3 * accRowB, c30, nO > 3); accOut(s + 3 * accRowB + 16, c31, nO > 3 && t1);
}

/** acc[i][k0 + j] += Σ Ȳ[i] · S_{k0+j} for channels i < nO ≤ 2 and taps j < nT ≤ 4. */
function tile2x4(a: usize, aPlaneB: usize, aRowB: usize, x: usize, xRowB: usize, taps: usize, k0: i32, nO: i32, nT: i32, R: i32, Q: i32, acc: usize, accRowB: usize): void {
  const a0 = a, a1 = a + <usize>upTo(1, nO) * aPlaneB;
  const x0 = tapAt(x, taps, k0), x1 = tapAt(x, taps, k0 + upTo(1, nT)), x2 = tapAt(x, taps, k0 + upTo(2, nT)), x3 = tapAt(x, taps, k0 + upTo(3, nT));
  const s = acc + (<usize>k0 << 4), u = s + accRowB, o1 = nO > 1;
  let c00 = accIn(s, true), c01 = accIn(s + 16, nT > 1), c02 = accIn(s + 32, nT > 2), c03 = accIn(s + 48, nT > 3);
  let c10 = accIn(u, o1), c11 = accIn(u + 16, o1 && nT > 1), c12 = accIn(u + 32, o1 && nT > 2), c13 = accIn(u + 48, o1 && nT > 3);
  for (let p = 0; p < R; p++) {
    let ao = <usize>p * aRowB, xo = <usize>p * xRowB;
    for (let q = 0; q < Q; q++) {
      const y0 = v128.load(a0 + ao), y1 = v128.load(a1 + ao);
      const v0 = v128.load(x0 + xo), v1 = v128.load(x1 + xo), v2 = v128.load(x2 + xo), v3 = v128.load(x3 + xo);
      c00 = madd(y0, v0, c00); c01 = madd(y0, v1, c01); c02 = madd(y0, v2, c02); c03 = madd(y0, v3, c03);
      c10 = madd(y1, v0, c10); c11 = madd(y1, v1, c11); c12 = madd(y1, v2, c12); c13 = madd(y1, v3, c13);
      ao += 16;
      xo += 16;
    }
  }
  accOut(s, c00, true); accOut(s + 16, c01, nT > 1); accOut(s + 32, c02, nT > 2); accOut(s + 48, c03, nT > 3);
  accOut(u, c10, o1); accOut(u + 16, c11, o1 && nT > 1); accOut(u + 32, c12, o1 && nT > 2); accOut(u + 48, c13, o1 && nT > 3);
}

/** acc[0][k0 + j] += Σ Ȳ[0] · S_{k0+j} for one channel and taps j < nT ≤ 8. */
function tile1x8(a: usize, x: usize, aRowB: usize, xRowB: usize, taps: usize, k0: i32, nT: i32, R: i32, Q: i32, acc: usize): void {
  const x0 = tapAt(x, taps, k0), x1 = tapAt(x, taps, k0 + upTo(1, nT)), x2 = tapAt(x, taps, k0 + upTo(2, nT)), x3 = tapAt(x, taps, k0 + upTo(3, nT));
  const x4 = tapAt(x, taps, k0 + upTo(4, nT)), x5 = tapAt(x, taps, k0 + upTo(5, nT)), x6 = tapAt(x, taps, k0 + upTo(6, nT)), x7 = tapAt(x, taps, k0 + upTo(7, nT));
  const s = acc + (<usize>k0 << 4);
  let c0 = accIn(s, true), c1 = accIn(s + 16, nT > 1), c2 = accIn(s + 32, nT > 2), c3 = accIn(s + 48, nT > 3);
  let c4 = accIn(s + 64, nT > 4), c5 = accIn(s + 80, nT > 5), c6 = accIn(s + 96, nT > 6), c7 = accIn(s + 112, nT > 7);
  for (let p = 0; p < R; p++) {
    let ao = a + <usize>p * aRowB, xo = <usize>p * xRowB;
    for (let q = 0; q < Q; q++) {
      const y = v128.load(ao);
      c0 = madd(y, v128.load(x0 + xo), c0); c1 = madd(y, v128.load(x1 + xo), c1);
      c2 = madd(y, v128.load(x2 + xo), c2); c3 = madd(y, v128.load(x3 + xo), c3);
      c4 = madd(y, v128.load(x4 + xo), c4); c5 = madd(y, v128.load(x5 + xo), c5);
      c6 = madd(y, v128.load(x6 + xo), c6); c7 = madd(y, v128.load(x7 + xo), c7);
      ao += 16;
      xo += 16;
    }
  }
  accOut(s, c0, true); accOut(s + 16, c1, nT > 1); accOut(s + 32, c2, nT > 2); accOut(s + 48, c3, nT > 3);
  accOut(s + 64, c4, nT > 4); accOut(s + 80, c5, nT > 5); accOut(s + 96, c6, nT > 6); accOut(s + 112, c7, nT > 7);
}

/** One example's contribution to acc[og][K] (og channels from a): 4-channel tiles, then a 2- and a 1-channel one for og mod 4. */
function filterExample(a: usize, aPlaneB: usize, aRowB: usize, x: usize, xRowB: usize, taps: usize, og: i32, K: i32, R: i32, Q: i32, acc: usize): void {
  const accRowB = <usize>K << 4;
  let o0 = 0;
  for (; o0 + 4 <= og; o0 += 4) {
    const ao = a + <usize>o0 * aPlaneB, acco = acc + <usize>o0 * accRowB;
    for (let k0 = 0; k0 < K; k0 += 2) tile4x2(ao, aPlaneB, aRowB, x, xRowB, taps, k0, 4, K - k0 < 2 ? K - k0 : 2, R, Q, acco, accRowB);
  }
  if (og - o0 >= 2) {
    const ao = a + <usize>o0 * aPlaneB, acco = acc + <usize>o0 * accRowB;
    for (let k0 = 0; k0 < K; k0 += 4) tile2x4(ao, aPlaneB, aRowB, x, xRowB, taps, k0, 2, K - k0 < 4 ? K - k0 : 4, R, Q, acco, accRowB);
    o0 += 2;
  }
  if (o0 < og) {
    const ao = a + <usize>o0 * aPlaneB, acco = acc + <usize>o0 * accRowB;
    for (let k0 = 0; k0 < K; k0 += 8) tile1x8(ao, x, aRowB, xRowB, taps, k0, K - k0 < 8 ? K - k0 : 8, R, Q, acco);
  }
}

@inline function max32(a: i32, b: i32): i32 { return a > b ? a : b; }

/** Whether backward filter reads the input through a zero-padded copy (sw = 1 with padding, or ow mod 4 ≠ 0). */
@inline function filterCopiesX(ph: i32, pw: i32, ow: i32): bool { return ph != 0 || pw != 0 || (ow & 3) != 0; }
/** Rows and row length (floats) of the padded input copy for sw = 1: every tap's reads to round4(ow) stay inside. */
@inline function filterXRows(h: i32, kh: i32, sh: i32, ph: i32, dh: i32, oh: i32): i32 { return max32((oh - 1) * sh + (kh - 1) * dh + 1, ph + h); }
@inline function filterXCols(w: i32, kw: i32, pw: i32, dw: i32, ow: i32): i32 { return max32(round4(ow) + (kw - 1) * dw, pw + w); }

/** Bytes of one example's source for the group: the padded input copy (sw = 1) or the im2col matrix. */
@inline function filterSourceBytes(cg: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32): i32 {
  if (sw != 1) return cg * kh * kw * round8(oh * ow) * 4;
  return filterCopiesX(ph, pw, ow) ? cg * filterXRows(h, kh, sh, ph, dh, oh) * filterXCols(w, kw, pw, dw, ow) * 4 : 0;
}

/** Per-thread workspace bytes of conv2dBackwardFilter for blocks of `ob` channels: accumulators, tap offsets, the source, padded Ȳ. */
export function convFilterWorkspaceBytes(c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, groups: i32, oh: i32, ow: i32, ob: i32): i32 {
  const cg = c / groups, K = cg * kh * kw;
  const gyBytes = ob * (sw != 1 ? round8(oh * ow) : oh * round4(ow)) * 4;
  return ob * K * 16 + round4(K) * 4 + filterSourceBytes(cg, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow) + gyBytes + 64;
}

/**
 * Work items [lo, hi) of backward filter. Item i is (chunk ch, group gi, block of ≤ ob channels) in that order,
 * i = (ch·groups + gi)·⌈og/ob⌉ + block; chunk ch holds examples [⌊ch·n/chunks⌋, ⌊(ch + 1)·n/chunks⌋). Each
 * item writes (not adds) its rows of chunk ch's partial W̄ ([o, c/G·kh·kw]) at partials + ch·|W̄|, so items
 * write disjoint ranges. ws: convFilterWorkspaceBytes(…, ob).
 */
export function conv2dBackwardFilter(gy: usize, x: usize, n: i32, c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, groups: i32, oh: i32, ow: i32, ws: usize, partials: usize, chunks: i32, ob: i32, lo: i32, hi: i32): void {
  const cg = c / groups, og = o / groups, K = cg * kh * kw, P = oh * ow, size = o * K, blocks = (og + ob - 1) / ob;
  const direct = sw == 1, copyX = direct && filterCopiesX(ph, pw, ow);
  const Pp = round8(P), W4 = round4(ow);
  // Source geometry: the input (or its padded copy) with rows xRowB apart for sw = 1, else im2col rows of Pp.
  const H = copyX ? filterXRows(h, kh, sh, ph, dh, oh) : h, W = copyX ? filterXCols(w, kw, pw, dw, ow) : w;
  const rowB = <usize>W << 2, planeB = <usize>(H * W) << 2;
  const R = direct ? oh : 1, Q = direct ? W4 >> 2 : Pp >> 2;
  const aRowB = direct ? <usize>W4 << 2 : 0, aPlaneB = direct ? <usize>(oh * W4) << 2 : <usize>Pp << 2;
  const xRowB = direct ? <usize>sh * rowB : 0;
  // Ȳ is read in place when its rows are whole vectors, else from a copy with rows padded by zeros.
  const copyY = direct ? (ow & 3) != 0 : Pp != P;
  const acc = ws, taps = acc + (<usize>(ob * K) << 4), xs = taps + (<usize>round4(K) << 2);
  const ys = xs + <usize>filterSourceBytes(cg, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow);
  for (let ci = 0; ci < cg; ci++) for (let r = 0; r < kh; r++) for (let s = 0; s < kw; s++) {
    const k = (ci * kh + r) * kw + s;
    const at = direct ? <usize>ci * planeB + <usize>(r * dh) * rowB + (<usize>(s * dw) << 2) : <usize>(k * Pp) << 2;
    store<i32>(taps + (<usize>k << 2), <i32>at);
  }
  for (let it = lo; it < hi; it++) {
    const ch = it / (groups * blocks), gi = (it / blocks) % groups, o0 = (it % blocks) * ob;
    const nO = og - o0 < ob ? og - o0 : ob;
    const b0 = <i32>((<i64>ch * n) / chunks), b1 = <i32>((<i64>(ch + 1) * n) / chunks);
    memory.fill(acc, 0, <usize>(nO * K) << 4);
    for (let b = b0; b < b1; b++) {
      let src = x + (<usize>((b * c + gi * cg) * h * w) << 2);
      if (!direct) { im2col(src, cg, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, xs, Pp); src = xs; }
      else if (copyX) { padPlanes(src, cg, h, w, ph, pw, xs, H, W); src = xs; }
      let g = gy + (<usize>((b * o + gi * og + o0) * P) << 2);
      if (copyY) {
        if (direct) padRows(g, nO * oh, ow, ys, W4);
        else padRows(g, nO, P, ys, Pp);
        g = ys;
      }
      filterExample(g, aPlaneB, aRowB, src, xRowB, taps, nO, K, R, Q, acc);
    }
    // The four pixel classes of each weight, summed in a fixed order.
    const dst = partials + (<usize>(ch * size + (gi * og + o0) * K) << 2);
    for (let i = 0; i < nO * K; i++) {
      const v = v128.load(acc + (<usize>i << 4));
      const sum = (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
      store<f32>(dst + (<usize>i << 2), sum);
    }
  }
}

/** gw[i] += Σ_ch partials[ch][i] for i < size, the chunks added in order (so any thread split sums alike). */
export function conv2dBackwardFilterSum(partials: usize, chunks: i32, size: i32, gw: usize): void {
  const stride = <usize>size << 2;
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    const at = <usize>i << 2;
    let s = v128.load(partials + at);
    for (let ch = 1; ch < chunks; ch++) s = f32x4.add(s, v128.load(partials + <usize>ch * stride + at));
    v128.store(gw + at, f32x4.add(v128.load(gw + at), s));
  }
  for (; i < size; i++) {
    const at = <usize>i << 2;
    let s = load<f32>(partials + at);
    for (let ch = 1; ch < chunks; ch++) s += load<f32>(partials + <usize>ch * stride + at);
    store<f32>(gw + at, load<f32>(gw + at) + s);
  }
}
