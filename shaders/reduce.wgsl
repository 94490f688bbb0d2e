//! section channel_sum
// out[c] = Σ_{n,s} t[n, c, s]: one workgroup per channel, a strided sum per thread, then a tree in
// workgroup memory. Bias gradients of dense (spatial 1) and conv2d.
var<workgroup> partials: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let c = wid.x;
  let count = u.n * u.spatial;
  var s = 0.0;
  for (var i = lid.x; i < count; i += 256u) {
    let n = i / u.spatial;
    s += t[(n * u.channels + c) * u.spatial + i % u.spatial];
  }
  partials[lid.x] = s;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid.x < stride) { partials[lid.x] += partials[lid.x + stride]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    var r = partials[0];
    if (ACCUMULATE) { r += out[c]; }
    out[c] = r;
  }
}
