// Numpy broadcasting (Backend.broadcastBinary) and its adjoint (Backend.sumTo). Geometries come padded in
// front to 6 dimensions, as int32s in the caller's workspace `geom`: the output's sizes, then each operand's
// strides (0 along a broadcast dimension). The innermost dimension runs 4 lanes at a time where an operand
// is contiguous or splatted there. kind: 0 add, 1 sub, 2 mul, 3 div.

@inline function dim(geom: usize, i: i32): i32 { return load<i32>(geom + (<usize>i << 2)); }

@inline function op4(kind: i32, x: v128, y: v128): v128 {
  if (kind == 0) return f32x4.add(x, y);
  if (kind == 1) return f32x4.sub(x, y);
  if (kind == 2) return f32x4.mul(x, y);
  return f32x4.div(x, y);
}
@inline function op1(kind: i32, x: f32, y: f32): f32 {
  if (kind == 0) return x + y;
  if (kind == 1) return x - y;
  if (kind == 2) return x * y;
  return x / y;
}

/** One innermost run of n outputs: a and b advance by sa, sb floats (0, 1 or any). */
function run(kind: i32, a: usize, sa: i32, b: usize, sb: i32, out: usize, n: i32): void {
  let i = 0;
  if ((sa == 1 || sa == 0) && (sb == 1 || sb == 0)) {
    const v = n & ~3;
    const as = sa == 0 ? f32x4.splat(load<f32>(a)) : f32x4.splat(0);
    const bs = sb == 0 ? f32x4.splat(load<f32>(b)) : f32x4.splat(0);
    for (; i < v; i += 4) {
      const o = <usize>i << 2;
      const x = sa ? v128.load(a + o) : as, y = sb ? v128.load(b + o) : bs;
      v128.store(out + o, op4(kind, x, y));
    }
  }
  for (; i < n; i++) {
    store<f32>(out + (<usize>i << 2), op1(kind, load<f32>(a + (<usize>(i * sa) << 2)), load<f32>(b + (<usize>(i * sb) << 2))));
  }
}

/** out[i] = a[ia] ∘ b[ib]; geom = [shape ×6, a strides ×6, b strides ×6]. */
export function broadcastBinary(kind: i32, a: usize, b: usize, out: usize, geom: usize): void {
  const d0 = dim(geom, 0), d1 = dim(geom, 1), d2 = dim(geom, 2), d3 = dim(geom, 3), d4 = dim(geom, 4), d5 = dim(geom, 5);
  let o = out;
  for (let i0 = 0; i0 < d0; i0++) for (let i1 = 0; i1 < d1; i1++) for (let i2 = 0; i2 < d2; i2++)
    for (let i3 = 0; i3 < d3; i3++) for (let i4 = 0; i4 < d4; i4++) {
      const ia = i0 * dim(geom, 6) + i1 * dim(geom, 7) + i2 * dim(geom, 8) + i3 * dim(geom, 9) + i4 * dim(geom, 10);
      const ib = i0 * dim(geom, 12) + i1 * dim(geom, 13) + i2 * dim(geom, 14) + i3 * dim(geom, 15) + i4 * dim(geom, 16);
      run(kind, a + (<usize>ia << 2), dim(geom, 11), b + (<usize>ib << 2), dim(geom, 17), o, d5);
      o += <usize>d5 << 2;
    }
}

/**
 * out = scale · t summed over the dimensions an operand was broadcast along: t is walked in memory order
 * (geom = [t's shape ×6, out strides ×6], 0 along a summed dimension) into float64 sums in ws (`total`
 * of them), then scaled and stored as float32.
 */
export function sumTo(t: usize, out: usize, total: i32, scale: f64, geom: usize, ws: usize): void {
  memory.fill(ws, 0, <usize>total << 3);
  const d0 = dim(geom, 0), d1 = dim(geom, 1), d2 = dim(geom, 2), d3 = dim(geom, 3), d4 = dim(geom, 4), d5 = dim(geom, 5);
  const s5 = dim(geom, 11);
  let src = t;
  for (let i0 = 0; i0 < d0; i0++) for (let i1 = 0; i1 < d1; i1++) for (let i2 = 0; i2 < d2; i2++)
    for (let i3 = 0; i3 < d3; i3++) for (let i4 = 0; i4 < d4; i4++) {
      const base = ws + (<usize>(i0 * dim(geom, 6) + i1 * dim(geom, 7) + i2 * dim(geom, 8) + i3 * dim(geom, 9) + i4 * dim(geom, 10)) << 3);
      if (s5 == 0) {
        let s: f64 = 0;
        for (let i = 0; i < d5; i++) s += <f64>load<f32>(src + (<usize>i << 2));
        store<f64>(base, load<f64>(base) + s);
      } else {
        for (let i = 0; i < d5; i++) {
          const at = base + (<usize>(i * s5) << 3);
          store<f64>(at, load<f64>(at) + <f64>load<f32>(src + (<usize>i << 2)));
        }
      }
      src += <usize>d5 << 2;
    }
  for (let j = 0; j < total; j++) store<f32>(out + (<usize>j << 2), <f32>(scale * load<f64>(ws + (<usize>j << 3))));
}
