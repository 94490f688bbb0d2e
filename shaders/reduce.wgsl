//! section channel_sum
// out[c] = Σ_{n,s} t[n, c, s], the bias gradients of dense (spatial 1), conv2d and batch norm, K-parallel:
// workgroup (c, z) sums chunk z of the channel's K = n·spatial values (u.chunk of them; gemm-plan.ts
// channelSumPlan, a function of the shape only). Its lanes walk consecutive k = (n, s) (lane l takes
// k = kBegin + l, + 64, …: neighbouring pixels of one plane are neighbouring addresses), each in order, then
// lanes 8g..8g+7 are added by lane g and the 8 groups by lane 0. With SPLIT the chunk's sum goes to
// `partial` ([chunks, channels]) and channel_sum_partials adds the chunks; otherwise it is stored.
const_assert WORKGROUP_SIZE == 64u;
var<workgroup> sumLanes: array<f32, 64>;
var<workgroup> sumGroups: array<f32, 8>;

// The sum of v over the workgroup's 64 lanes, in a fixed order, valid on lane 0. Call in uniform control flow.
fn laneSum(lane: u32, v: f32) -> f32 {
  sumLanes[lane] = v;
  workgroupBarrier();
  if (lane < 8u) {
    var t = 0.0;
    for (var j = 0u; j < 8u; j++) { t += sumLanes[lane * 8u + j]; }
    sumGroups[lane] = t;
  }
  workgroupBarrier();
  var r = 0.0;
  for (var j = 0u; j < 8u; j++) { r += sumGroups[j]; }
  return r;
}

fn finish(c: u32, v: f32) {
  var r = v;
  if (ACCUMULATE) { r += out[c]; }
  out[c] = r;
}

//! section channel_sum_chunks
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wid: vec3u) {
  let c = wid.x;
  let kBegin = wid.y * u.chunk;
  let kEnd = min(u.n * u.spatial, kBegin + u.chunk);
  var s = 0.0;
  for (var k = kBegin + lane; k < kEnd; k += 64u) {
    let n = k / u.spatial;
    s += t[(n * u.channels + c) * u.spatial + k - n * u.spatial];
  }
  let r = laneSum(lane, s);
  if (lane == 0u) {
    if (SPLIT) { partial[wid.y * u.channels + c] = r; } else { finish(c, r); }
  }
}

//! section channel_sum_partials
// Adds the chunk sums of channel_sum_chunks, one workgroup per channel: lane l takes chunks l, l + 64, … in
// order, then the same fixed tree.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wid: vec3u) {
  let c = wid.x;
  var s = 0.0;
  for (var z = lane; z < u.chunks; z += 64u) { s += partial[z * u.channels + c]; }
  let r = laneSum(lane, s);
  if (lane == 0u) { finish(c, r); }
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
