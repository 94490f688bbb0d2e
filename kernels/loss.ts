// Loss heads over logits z [B,K] (see Backend.head): kind 0 logit, 1 probability, 2 crossEntropy,
// 3 gaussNewton. Computed per row in float64 (K is small), stored as float32. value/gdot 0 = not wanted.

export function head(kind: i32, z: usize, classes: usize, zdot: usize, B: i32, K: i32, scale: f64, value: usize, g: usize, gdot: usize, ws: usize): void {
  // ws holds p as K float64s.
  for (let b = 0; b < B; b++) {
    const row = z + (<usize>(b * K) << 2), zd = zdot ? zdot + (<usize>(b * K) << 2) : 0;
    const c = load<i32>(classes + (<usize>b << 2));
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, <f64>load<f32>(row + (<usize>k << 2)));
    let s: f64 = 0;
    for (let k = 0; k < K; k++) { const e = Math.exp(<f64>load<f32>(row + (<usize>k << 2)) - m); store<f64>(ws + (<usize>k << 3), e); s += e; }
    let pzd: f64 = 0;
    for (let k = 0; k < K; k++) {
      const p = load<f64>(ws + (<usize>k << 3)) / s;
      store<f64>(ws + (<usize>k << 3), p);
      if (zd) pzd += p * <f64>load<f32>(zd + (<usize>k << 2));
    }
    const out = g + (<usize>(b * K) << 2), outd = gdot ? gdot + (<usize>(b * K) << 2) : 0;
    const pc = load<f64>(ws + (<usize>c << 3));
    const zc = <f64>load<f32>(row + (<usize>c << 2));
    if (kind == 0) {
      store<f32>(value + (<usize>b << 2), <f32>zc);
      for (let k = 0; k < K; k++) store<f32>(out + (<usize>k << 2), k == c ? <f32>scale : 0);
    } else if (kind == 1) {
      store<f32>(value + (<usize>b << 2), <f32>pc);
      const pcdot = zd ? pc * (<f64>load<f32>(zd + (<usize>c << 2)) - pzd) : 0;
      for (let k = 0; k < K; k++) {
        const pk = load<f64>(ws + (<usize>k << 3)), ek: f64 = k == c ? 1 : 0;
        store<f32>(out + (<usize>k << 2), <f32>(scale * pc * (ek - pk)));
        if (outd) store<f32>(outd + (<usize>k << 2), <f32>(scale * (pcdot * (ek - pk) - pc * pk * (<f64>load<f32>(zd + (<usize>k << 2)) - pzd))));
      }
    } else if (kind == 2) {
      store<f32>(value + (<usize>b << 2), <f32>(m + Math.log(s) - zc));
      for (let k = 0; k < K; k++) {
        const pk = load<f64>(ws + (<usize>k << 3));
        store<f32>(out + (<usize>k << 2), <f32>(scale * (pk - (k == c ? 1 : 0))));
        if (outd) store<f32>(outd + (<usize>k << 2), <f32>(scale * pk * (<f64>load<f32>(zd + (<usize>k << 2)) - pzd)));
      }
    } else {
      for (let k = 0; k < K; k++) {
        const pk = load<f64>(ws + (<usize>k << 3));
        store<f32>(out + (<usize>k << 2), <f32>(scale * pk * (<f64>load<f32>(zd + (<usize>k << 2)) - pzd)));
      }
    }
  }
}
