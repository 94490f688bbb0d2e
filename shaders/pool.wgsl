// Pooling with padding (PyTorch semantics); windows may overlap. Window (p, q) starts at
// (p·sh − ph, q·sw − pw) and may reach into the padding: max pooling never picks a padded cell (−∞),
// average pooling divides by the window clipped to the padded input (COUNT_PAD) or to the input. One
// thread per output (forward) or per input (backward, gathered from the windows that cover it, so no
// atomics are needed).

//! section common
// The range of windows whose window covers padded row hp (= input row + padding).
fn windowsCovering(hp: u32, k: u32, s: u32, n: u32) -> vec2u {
  var lo = 0u;
  if (hp + 1u > k) { lo = (hp + 1u - k + s - 1u) / s; }
  let hi = min(hp / s + 1u, n);
  return vec2u(lo, hi);
}
// Rows [start, end) of a window starting at padded row p·s, clipped to the input: as i32 input rows.
fn clipped(start: i32, k: u32, size: u32) -> vec2i {
  return vec2i(max(start, 0), min(start + i32(k), i32(size)));
}
fn avgDivisor(p: u32, q: u32) -> f32 {
  let h0 = i32(p * u.sh) - i32(u.ph);
  let w0 = i32(q * u.sw) - i32(u.pw);
  if (COUNT_PAD) {
    let hs = min(h0 + i32(u.kh), i32(u.h + u.ph)) - h0;
    let ws = min(w0 + i32(u.kw), i32(u.w + u.pw)) - w0;
    return f32(hs * ws);
  }
  let r = clipped(h0, u.kh, u.h);
  let c = clipped(w0, u.kw, u.w);
  return f32((r.y - r.x) * (c.y - c.x));
}

//! section max_forward
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  let o = unravel3(i, u.oh, u.ow); let nc = o.x; let p = o.y; let q = o.z;
  let plane = nc * u.h * u.w;
  let rows = clipped(i32(p * u.sh) - i32(u.ph), u.kh, u.h);
  let cols = clipped(i32(q * u.sw) - i32(u.pw), u.kw, u.w);
  var at = plane + u32(rows.x) * u.w + u32(cols.x);
  var best = x[at];
  for (var r = rows.x; r < rows.y; r++) {
    for (var c = cols.x; c < cols.y; c++) {
      let j = plane + u32(r) * u.w + u32(c);
      // Strictly greater: the first maximum wins, as in the float64 reference.
      if (x[j] > best) { best = x[j]; at = j; }
    }
  }
  y[i] = best;
  argmax[i] = i32(at);
}

//! section gather
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  y[i] = x[u32(index[i])];
}

//! section max_backward
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = linearId(gid, nwg);
  if (j >= u.total) { return; }
  let at = unravel3(j, u.h, u.w); let nc = at.x; let h = at.y; let w = at.z;
  let rows = windowsCovering(h + u.ph, u.kh, u.sh, u.oh);
  let cols = windowsCovering(w + u.pw, u.kw, u.sw, u.ow);
  var s = 0.0;
  for (var p = rows.x; p < rows.y; p++) {
    for (var q = cols.x; q < cols.y; q++) {
      let o = (nc * u.oh + p) * u.ow + q;
      if (u32(argmax[o]) == j) { s += gy[o]; }
    }
  }
  gx[j] = s;
}

//! section avg_forward
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  let o = unravel3(i, u.oh, u.ow); let nc = o.x; let p = o.y; let q = o.z;
  let plane = nc * u.h * u.w;
  let rows = clipped(i32(p * u.sh) - i32(u.ph), u.kh, u.h);
  let cols = clipped(i32(q * u.sw) - i32(u.pw), u.kw, u.w);
  var s = 0.0;
  for (var r = rows.x; r < rows.y; r++) {
    for (var c = cols.x; c < cols.y; c++) { s += x[plane + u32(r) * u.w + u32(c)]; }
  }
  y[i] = s / avgDivisor(p, q);
}

//! section avg_backward
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = linearId(gid, nwg);
  if (j >= u.total) { return; }
  let at = unravel3(j, u.h, u.w); let nc = at.x; let h = at.y; let w = at.z;
  let rows = windowsCovering(h + u.ph, u.kh, u.sh, u.oh);
  let cols = windowsCovering(w + u.pw, u.kw, u.sw, u.ow);
  var s = 0.0;
  for (var p = rows.x; p < rows.y; p++) {
    for (var q = cols.x; q < cols.y; q++) { s += gy[(nc * u.oh + p) * u.ow + q] / avgDivisor(p, q); }
  }
  gx[j] = s;
}
