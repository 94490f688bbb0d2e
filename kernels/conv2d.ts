// Convolution passes (NCHW, PyTorch semantics, zero padding) as GEMMs over an im2col matrix per example:
// col[k = (c,r,s), p = (oh,ow)] = x[c, p_h·sh + r − ph, p_w·sw + s − pw]. Forward: Y_n[O,P] = W[O,K]·col;
// backward input: col̄ = Wᵀ·Ȳ_n then scattered back (col2im); backward filter: W̄ += Ȳ_n·colᵀ.
import { gemm, gemmWorkspaceBytes } from './gemm';

function im2col(x: usize, c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, col: usize): void {
  let out = col;
  for (let ci = 0; ci < c; ci++) for (let r = 0; r < kh; r++) for (let s = 0; s < kw; s++) {
    const plane = x + (<usize>(ci * h * w) << 2);
    for (let p = 0; p < oh; p++) {
      const hh = p * sh + r - ph;
      const inRow = hh >= 0 && hh < h;
      for (let q = 0; q < ow; q++) {
        const ww = q * sw + s - pw;
        store<f32>(out, inRow && ww >= 0 && ww < w ? load<f32>(plane + (<usize>(hh * w + ww) << 2)) : 0);
        out += 4;
      }
    }
  }
}

function col2imAdd(col: usize, c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, x: usize): void {
  let src = col;
  for (let ci = 0; ci < c; ci++) for (let r = 0; r < kh; r++) for (let s = 0; s < kw; s++) {
    const plane = x + (<usize>(ci * h * w) << 2);
    for (let p = 0; p < oh; p++) {
      const hh = p * sh + r - ph;
      for (let q = 0; q < ow; q++) {
        const ww = q * sw + s - pw;
        if (hh >= 0 && hh < h && ww >= 0 && ww < w) {
          const at = plane + (<usize>(hh * w + ww) << 2);
          store<f32>(at, load<f32>(at) + load<f32>(src));
        }
        src += 4;
      }
    }
  }
}

/** Workspace bytes every conv pass needs: one example's im2col matrix plus the GEMM's packing. */
export function convWorkspaceBytes(c: i32, o: i32, kh: i32, kw: i32, oh: i32, ow: i32): i32 {
  const K = c * kh * kw, P = oh * ow;
  let g = gemmWorkspaceBytes(o, P, K);
  const g2 = gemmWorkspaceBytes(K, P, o), g3 = gemmWorkspaceBytes(o, K, P);
  if (g2 > g) g = g2;
  if (g3 > g) g = g3;
  return K * P * 4 + 64 + g;
}

/** y[n,o,:,:] += W·col(x_n) + bias[o] (bias 0 = none). */
export function conv2dForward(x: usize, wt: usize, bias: usize, y: usize, n: i32, c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, ws: usize): void {
  const K = c * kh * kw, P = oh * ow;
  const col = ws, gws = (ws + (<usize>(K * P) << 2) + 63) & ~63;
  for (let b = 0; b < n; b++) {
    im2col(x + (<usize>(b * c * h * w) << 2), c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, col);
    gemm(wt, col, y + (<usize>(b * o * P) << 2), o, P, K, 0, 0, 0, bias, gws);
  }
}

/** gx[n] += col2im(Wᵀ·gy_n). */
export function conv2dBackwardInput(gy: usize, wt: usize, gx: usize, n: i32, c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, ws: usize): void {
  const K = c * kh * kw, P = oh * ow;
  const col = ws, gws = (ws + (<usize>(K * P) << 2) + 63) & ~63;
  for (let b = 0; b < n; b++) {
    memory.fill(col, 0, <usize>(K * P) << 2);
    gemm(wt, gy + (<usize>(b * o * P) << 2), col, K, P, o, 1, 0, 0, 0, gws);
    col2imAdd(col, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, gx + (<usize>(b * c * h * w) << 2));
  }
}

/** gw[O,K] += Σ_n gy_n[O,P]·col(x_n)ᵀ. */
export function conv2dBackwardFilter(gy: usize, x: usize, gw: usize, n: i32, c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, ws: usize): void {
  const K = c * kh * kw, P = oh * ow;
  const col = ws, gws = (ws + (<usize>(K * P) << 2) + 63) & ~63;
  for (let b = 0; b < n; b++) {
    im2col(x + (<usize>(b * c * h * w) << 2), c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, col);
    gemm(gy + (<usize>(b * o * P) << 2), col, gw, o, K, P, 0, 1, 0, 0, gws);
  }
}
