// Pooling without padding; windows may overlap. One thread per output (forward) or per input (backward,
// gathered from the windows that cover it, so no atomics are needed).

//! section common
// The range of window rows (or columns) whose window covers input row h.
fn windowsCovering(h: u32, k: u32, s: u32, n: u32) -> vec2u {
  var lo = 0u;
  if (h + 1u > k) { lo = (h + 1u - k + s - 1u) / s; }
  let hi = min(h / s + 1u, n);
  return vec2u(lo, hi);
}

//! section max_forward
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  let o = unravel3(i, u.oh, u.ow); let nc = o.x; let p = o.y; let q = o.z;
  let plane = nc * u.h * u.w;
  var at = plane + p * u.sh * u.w + q * u.sw;
  var best = x[at];
  for (var r = 0u; r < u.kh; r++) {
    for (var s = 0u; s < u.kw; s++) {
      let j = plane + (p * u.sh + r) * u.w + q * u.sw + s;
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
  let rows = windowsCovering(h, u.kh, u.sh, u.oh);
  let cols = windowsCovering(w, u.kw, u.sw, u.ow);
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
  let base = nc * u.h * u.w + p * u.sh * u.w + q * u.sw;
  var s = 0.0;
  for (var r = 0u; r < u.kh; r++) {
    for (var c = 0u; c < u.kw; c++) { s += x[base + r * u.w + c]; }
  }
  y[i] = s / f32(u.kh * u.kw);
}

//! section avg_backward
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = linearId(gid, nwg);
  if (j >= u.total) { return; }
  let at = unravel3(j, u.h, u.w); let nc = at.x; let h = at.y; let w = at.z;
  let rows = windowsCovering(h, u.kh, u.sh, u.oh);
  let cols = windowsCovering(w, u.kw, u.sw, u.ow);
  var s = 0.0;
  for (var p = rows.x; p < rows.y; p++) {
    for (var q = cols.x; q < cols.y; q++) { s += gy[(nc * u.oh + p) * u.ow + q]; }
  }
  gx[j] = s / f32(u.kh * u.kw);
}
