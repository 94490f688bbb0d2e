// Batch normalization in inference mode, per channel c of x viewed as [n, channels, spatial]:
//   y = (x − m)·k·w + b,  k = 1/√(var + ε)  =  x·s + t  with s = k·w, t = b − m·k·w.
// The running statistics m and var are constants (buffers, not parameters); w and b may carry tangents.
// The per-channel coefficients are computed once per call (section coefficients), so the elementwise
// passes read one small table: coef[6, channels] = (s, t, ṡ = k·ẇ, ṫ = ḃ − m·k·ẇ, m, k).

//! section common
fn channelOf(i: u32) -> u32 { return (i / u.spatial) % u.channels; }
fn cf(row: u32, c: u32) -> f32 { return coef[row * u.channels + c]; }

//! section coefficients
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= u.channels) { return; }
  let k = inverseSqrt(variance[c] + u.eps);
  let m = mean[c];
  coef[c] = k * weight[c];
  coef[u.channels + c] = bias[c] - m * k * weight[c];
  var sdot = 0.0;
  var tdot = 0.0;
  if (HAS_WDOT) { sdot = k * wdot[c]; tdot = -m * sdot; }
  if (HAS_BDOT) { tdot += bdot[c]; }
  coef[2u * u.channels + c] = sdot;
  coef[3u * u.channels + c] = tdot;
  coef[4u * u.channels + c] = m;
  coef[5u * u.channels + c] = k;
}

//! section forward
// y = x·s + t and ẏ = ẋ·s + x·ṡ + ṫ (terms of absent tangents dropped).
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  let c = channelOf(i);
  let s = cf(0u, c);
  y[i] = x[i] * s + cf(1u, c);
  if (HAS_XDOT || HAS_PDOT) {
    var t = 0.0;
    if (HAS_XDOT) { t += xdot[i] * s; }
    if (HAS_PDOT) { t += x[i] * cf(2u, c) + cf(3u, c); }
    ydot[i] = t;
  }
}

//! section backward
// x̄ = ȳ·s and its tangent ẏ̄·s + ȳ·ṡ.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  let c = channelOf(i);
  gx[i] = gy[i] * cf(0u, c);
  if (HAS_GYDOT || HAS_PDOT) {
    var t = 0.0;
    if (HAS_GYDOT) { t += gydot[i] * cf(0u, c); }
    if (HAS_PDOT) { t += gy[i] * cf(2u, c); }
    gxdot[i] = t;
  }
}

//! section weight_grad
// w̄[c] = Σ ȳ·x̂ with x̂ = (x − m)·k, and its tangent Σ ẏ̄·x̂ + ȳ·ẋ·k: one workgroup per channel, a
// strided sum per thread, then a tree in workgroup memory (as channel_sum).
// The tree below halves WORKGROUP_SIZE down to 1.
const_assert (WORKGROUP_SIZE & (WORKGROUP_SIZE - 1u)) == 0u;
var<workgroup> partials: array<vec2f, WORKGROUP_SIZE>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let c = wid.x;
  let m = cf(4u, c);
  let k = cf(5u, c);
  let count = u.n * u.spatial;
  var s = vec2f(0.0, 0.0);
  for (var j = lid.x; j < count; j += WORKGROUP_SIZE) {
    let i = ((j / u.spatial) * u.channels + c) * u.spatial + j % u.spatial;
    let xhat = (x[i] - m) * k;
    s.x += gy[i] * xhat;
    if (HAS_GYDOT) { s.y += gydot[i] * xhat; }
    if (HAS_XDOT) { s.y += gy[i] * xdot[i] * k; }
  }
  partials[lid.x] = s;
  workgroupBarrier();
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride >>= 1u) {
    if (lid.x < stride) { partials[lid.x] += partials[lid.x + stride]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    gw[c] = partials[0].x;
    if (HAS_GYDOT || HAS_XDOT) { gwdot[c] = partials[0].y; }
  }
}
