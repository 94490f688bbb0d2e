//! section channel_sum
// out[c] = Σ_{n,s} t[n, c, s]: one workgroup per channel, a strided sum per thread, then a tree in
// workgroup memory. Bias gradients of dense (spatial 1) and conv2d.
// The tree below halves WORKGROUP_SIZE down to 1.
const_assert (WORKGROUP_SIZE & (WORKGROUP_SIZE - 1u)) == 0u;
var<workgroup> partials: array<f32, WORKGROUP_SIZE>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let c = wid.x;
  let count = u.n * u.spatial;
  var s = 0.0;
  for (var i = lid.x; i < count; i += WORKGROUP_SIZE) {
    let n = i / u.spatial;
    s += t[(n * u.channels + c) * u.spatial + i % u.spatial];
  }
  partials[lid.x] = s;
  workgroupBarrier();
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride >>= 1u) {
    if (lid.x < stride) { partials[lid.x] += partials[lid.x + stride]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    var r = partials[0];
    if (ACCUMULATE) { r += out[c]; }
    out[c] = r;
  }
}

//! section sample_reduce
// Folds one chunk of sample gradients into per-(example, element) statistics. Walking the chunk's samples in
// order, the weighted path sum inner += w_s·g completes one attribution A_n per noise sample (times
// x + ε_n − baseline when MULTIPLY, |·| when ABSOLUTE); the chunk's A_n are summarised by Welford (mean,
// M2) and merged into the running (mean, M2) with Chan's formula. `stats` is [3, B, d]: the path sum of a
// noise sample whose points straddle chunks, the mean, and M2.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linearId(gid, nwg);
  if (t >= u.B * u.d) { return; }
  let b = t / u.d;
  let i = t % u.d;
  let bd = u.B * u.d;
  var inner = stats[t];
  var meanC = 0.0;
  var m2C = 0.0;
  var count = 0.0;
  for (var j = 0u; j < u.len; j++) {
    let q = u.q0 + j;
    let s = q % u.S;
    inner += pathWeight(s) * grads[(b * u.len + j) * u.d + i];
    if (s == u.S - 1u) {
      let n = q / u.S;
      var a = inner;
      inner = 0.0;
      if (MULTIPLY) {
        var words = vec4u(0u);
        if (NOISE != NOISE_NONE && NOISE != NOISE_GIVEN) { words = drawWords(b, n, i / 4u); }
        var base = 0.0;
        if (HAS_BASELINE) { base = baseline[t]; }
        a *= x[t] + noiseValue(b, n, i, words) - base;
      }
      if (ABSOLUTE) { a = abs(a); }
      count += 1.0;
      let delta = a - meanC;
      meanC += delta / count;
      m2C += delta * (a - meanC);
    }
  }
  stats[t] = inner;
  if (count > 0.0) {
    let before = f32(u.done);
    let total = before + count;
    let delta = meanC - stats[bd + t];
    stats[bd + t] += delta * count / total;
    stats[2u * bd + t] += m2C + delta * delta * before * count / total;
  }
}
