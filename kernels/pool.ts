// Pooling (no padding, windows may overlap), its tangent (gather) and backward passes (scatter-add).

/** y = window max, argmax = flat index into x of the first maximum. */
export function maxPool(x: usize, y: usize, argmax: usize, nc: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, oh: i32, ow: i32): void {
  let out: usize = 0;
  for (let pl = 0; pl < nc; pl++) {
    const plane = pl * h * w;
    for (let p = 0; p < oh; p++) for (let q = 0; q < ow; q++) {
      let best = -Infinity as f32, at = -1;
      for (let r = 0; r < kh; r++) for (let s = 0; s < kw; s++) {
        const j = plane + (p * sh + r) * w + (q * sw + s);
        const v = load<f32>(x + (<usize>j << 2));
        if (v > best) { best = v; at = j; }
      }
      store<f32>(y + out, best);
      store<i32>(argmax + out, at);
      out += 4;
    }
  }
}

export function gather(src: usize, index: usize, out: usize, count: i32): void {
  for (let i = 0; i < count; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(src + (<usize>load<i32>(index + o) << 2)));
  }
}

/** gx[argmax[i]] += gy[i]. */
export function scatterAdd(gy: usize, index: usize, gx: usize, count: i32): void {
  for (let i = 0; i < count; i++) {
    const o = <usize>i << 2;
    const at = gx + (<usize>load<i32>(index + o) << 2);
    store<f32>(at, load<f32>(at) + load<f32>(gy + o));
  }
}

export function avgPool(x: usize, y: usize, nc: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, oh: i32, ow: i32): void {
  const inv = <f32>1 / <f32>(kh * kw);
  let out: usize = y;
  for (let pl = 0; pl < nc; pl++) {
    const plane = x + (<usize>(pl * h * w) << 2);
    for (let p = 0; p < oh; p++) for (let q = 0; q < ow; q++) {
      let s: f32 = 0;
      for (let r = 0; r < kh; r++) for (let t = 0; t < kw; t++) s += load<f32>(plane + (<usize>((p * sh + r) * w + q * sw + t) << 2));
      store<f32>(out, s * inv);
      out += 4;
    }
  }
}

export function avgPoolBackward(gy: usize, gx: usize, nc: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, oh: i32, ow: i32): void {
  const inv = <f32>1 / <f32>(kh * kw);
  let src: usize = gy;
  for (let pl = 0; pl < nc; pl++) {
    const plane = gx + (<usize>(pl * h * w) << 2);
    for (let p = 0; p < oh; p++) for (let q = 0; q < ow; q++) {
      const v = load<f32>(src) * inv;
      for (let r = 0; r < kh; r++) for (let t = 0; t < kw; t++) {
        const at = plane + (<usize>((p * sh + r) * w + q * sw + t) << 2);
        store<f32>(at, load<f32>(at) + v);
      }
      src += 4;
    }
  }
}
