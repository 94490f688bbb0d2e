// Pooling (PyTorch semantics: windows may overlap, padding), its tangent (gather) and backward passes
// (scatter-add). Window (p, q) starts at (p·sh − ph, q·sw − pw); padding cells are skipped: −∞ for max
// pooling, and for average pooling they count in the divisor only when countIncludePad (clipped to the
// padded input, as PyTorch).

@inline function imax(a: i32, b: i32): i32 { return a > b ? a : b; }
@inline function imin(a: i32, b: i32): i32 { return a < b ? a : b; }

/**
 * y = window max, argmax = flat index into x of the first maximum (the first valid cell when none is larger),
 * for planes [pl0, pl0 + nc) of x; y and argmax point at plane pl0's outputs (threads take plane ranges).
 */
export function maxPool(x: usize, y: usize, argmax: usize, nc: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, pl0: i32): void {
  // Whole windows only (ceil mode can add a partial last one).
  if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && 2 * oh <= h && 2 * ow <= w) { maxPool2x2(x, y, argmax, nc, h, w, oh, ow, pl0); return; }
  let out: usize = 0;
  for (let pl = pl0; pl < pl0 + nc; pl++) {
    const plane = pl * h * w;
    for (let p = 0; p < oh; p++) {
      const h0 = p * sh - ph, hLo = imax(h0, 0), hHi = imin(h0 + kh, h);
      for (let q = 0; q < ow; q++) {
        const w0 = q * sw - pw, wLo = imax(w0, 0), wHi = imin(w0 + kw, w);
        let best = -Infinity as f32, at = -1;
        for (let hh = hLo; hh < hHi; hh++) for (let ww = wLo; ww < wHi; ww++) {
          const j = plane + hh * w + ww;
          const v = load<f32>(x + (<usize>j << 2));
          if (at < 0 || v > best) { best = v; at = j; }
        }
        store<f32>(y + out, best);
        store<i32>(argmax + out, at);
        out += 4;
      }
    }
  }
}

/**
 * maxPool for 2×2 windows, stride 2, no padding (LeNet's), 4 outputs at a time: the even and odd columns of
 * two input rows are deinterleaved by shuffles and compared in the scalar loop's order ((0,0), (0,1), (1,0),
 * (1,1), first cell taken, then strictly greater), so values and argmax are those of the general loop.
 */
function maxPool2x2(x: usize, y: usize, argmax: usize, nc: i32, h: i32, w: i32, oh: i32, ow: i32, pl0: i32): void {
  const ow4 = ow & ~3;
  let out: usize = 0;
  for (let pl = pl0; pl < pl0 + nc; pl++) {
    for (let p = 0; p < oh; p++) {
      const j0 = pl * h * w + 2 * p * w;
      const r0 = x + (<usize>j0 << 2), r1 = r0 + (<usize>w << 2);
      let q = 0;
      for (; q < ow4; q += 4) {
        const o = <usize>(2 * q) << 2;
        const a0 = v128.load(r0 + o), b0 = v128.load(r0 + o, 16), a1 = v128.load(r1 + o), b1 = v128.load(r1 + o, 16);
        const c00 = v128.shuffle<f32>(a0, b0, 0, 2, 4, 6), c01 = v128.shuffle<f32>(a0, b0, 1, 3, 5, 7);
        const c10 = v128.shuffle<f32>(a1, b1, 0, 2, 4, 6), c11 = v128.shuffle<f32>(a1, b1, 1, 3, 5, 7);
        const i00 = i32x4.add(i32x4.splat(j0 + 2 * q), i32x4(0, 2, 4, 6));
        let best = c00, at = i00;
        let m = f32x4.gt(c01, best);
        best = v128.bitselect(c01, best, m); at = v128.bitselect(i32x4.add(i00, i32x4.splat(1)), at, m);
        m = f32x4.gt(c10, best);
        best = v128.bitselect(c10, best, m); at = v128.bitselect(i32x4.add(i00, i32x4.splat(w)), at, m);
        m = f32x4.gt(c11, best);
        best = v128.bitselect(c11, best, m); at = v128.bitselect(i32x4.add(i00, i32x4.splat(w + 1)), at, m);
        v128.store(y + out, best);
        v128.store(argmax + out, at);
        out += 16;
      }
      for (; q < ow; q++) {
        const j = j0 + 2 * q;
        let best = load<f32>(x + (<usize>j << 2)), at = j;
        for (let k = 1; k < 4; k++) {
          const jj = j + (k >> 1) * w + (k & 1);
          const v = load<f32>(x + (<usize>jj << 2));
          if (v > best) { best = v; at = jj; }
        }
        store<f32>(y + out, best);
        store<i32>(argmax + out, at);
        out += 4;
      }
    }
  }
}

export function gather(src: usize, index: usize, out: usize, count: i32): void {
  for (let i = 0; i < count; i++) {
    const o = <usize>i << 2;
    const j = load<i32>(index + o);
    // j < 0 only for a window wholly in the padding (graph validation refuses those): never read outside.
    store<f32>(out + o, j >= 0 ? load<f32>(src + (<usize>j << 2)) : 0);
  }
}

/** gx[argmax[i]] += gy[i]. */
export function scatterAdd(gy: usize, index: usize, gx: usize, count: i32, zero: usize, zeroCount: i32): void {
  // The caller's range of gx is zeroed here, not by the host: each thread clears the planes it scatters into.
  memory.fill(zero, 0, <usize>zeroCount << 2);
  for (let i = 0; i < count; i++) {
    const o = <usize>i << 2;
    const j = load<i32>(index + o);
    if (j < 0) continue;
    const at = gx + (<usize>j << 2);
    store<f32>(at, load<f32>(at) + load<f32>(gy + o));
  }
}

/** 1 / average pooling's divisor for the window starting at (h0, w0). */
@inline function invDivisor(h0: i32, w0: i32, h: i32, w: i32, kh: i32, kw: i32, ph: i32, pw: i32, includePad: i32): f32 {
  const loH = includePad ? -ph : 0, loW = includePad ? -pw : 0;
  const hiH = includePad ? h + ph : h, hiW = includePad ? w + pw : w;
  return <f32>1 / <f32>((imin(h0 + kh, hiH) - imax(h0, loH)) * (imin(w0 + kw, hiW) - imax(w0, loW)));
}

export function avgPool(x: usize, y: usize, nc: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, includePad: i32): void {
  let out: usize = y;
  for (let pl = 0; pl < nc; pl++) {
    const plane = x + (<usize>(pl * h * w) << 2);
    for (let p = 0; p < oh; p++) {
      const h0 = p * sh - ph, hLo = imax(h0, 0), hHi = imin(h0 + kh, h);
      for (let q = 0; q < ow; q++) {
        const w0 = q * sw - pw, wLo = imax(w0, 0), wHi = imin(w0 + kw, w);
        let s: f32 = 0;
        for (let hh = hLo; hh < hHi; hh++) for (let ww = wLo; ww < wHi; ww++) s += load<f32>(plane + (<usize>(hh * w + ww) << 2));
        store<f32>(out, s * invDivisor(h0, w0, h, w, kh, kw, ph, pw, includePad));
        out += 4;
      }
    }
  }
}

export function avgPoolBackward(gy: usize, gx: usize, nc: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, includePad: i32): void {
  // Windows overlap, so gx accumulates; its planes are zeroed here, by the thread that owns them.
  memory.fill(gx, 0, <usize>(nc * h * w) << 2);
  let src: usize = gy;
  for (let pl = 0; pl < nc; pl++) {
    const plane = gx + (<usize>(pl * h * w) << 2);
    for (let p = 0; p < oh; p++) {
      const h0 = p * sh - ph, hLo = imax(h0, 0), hHi = imin(h0 + kh, h);
      for (let q = 0; q < ow; q++) {
        const w0 = q * sw - pw, wLo = imax(w0, 0), wHi = imin(w0 + kw, w);
        const v = load<f32>(src) * invDivisor(h0, w0, h, w, kh, kw, ph, pw, includePad);
        for (let hh = hLo; hh < hHi; hh++) for (let ww = wLo; ww < wHi; ww++) {
          const at = plane + (<usize>(hh * w + ww) << 2);
          store<f32>(at, load<f32>(at) + v);
        }
        src += 4;
      }
    }
  }
}
