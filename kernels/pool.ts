// Pooling (PyTorch semantics: windows may overlap, padding), its tangent (gather) and backward passes
// (scatter-add). Window (p, q) starts at (p·sh − ph, q·sw − pw); padding cells are skipped: −∞ for max
// pooling, and for average pooling they count in the divisor only when countIncludePad (clipped to the
// padded input, as PyTorch).

@inline function imax(a: i32, b: i32): i32 { return a > b ? a : b; }
@inline function imin(a: i32, b: i32): i32 { return a < b ? a : b; }

/** y = window max, argmax = flat index into x of the first maximum (the first valid cell when none is larger). */
export function maxPool(x: usize, y: usize, argmax: usize, nc: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  let out: usize = 0;
  for (let pl = 0; pl < nc; pl++) {
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

export function gather(src: usize, index: usize, out: usize, count: i32): void {
  for (let i = 0; i < count; i++) {
    const o = <usize>i << 2;
    const j = load<i32>(index + o);
    // j < 0 only for a window wholly in the padding (graph validation refuses those): never read outside.
    store<f32>(out + o, j >= 0 ? load<f32>(src + (<usize>j << 2)) : 0);
  }
}

/** gx[argmax[i]] += gy[i]. */
export function scatterAdd(gy: usize, index: usize, gx: usize, count: i32): void {
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
