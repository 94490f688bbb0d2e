//! section head
// Loss heads on logits z [B, K], one thread per example. HEAD: HEAD_LOGIT, HEAD_PROBABILITY (softmax),
// HEAD_CROSS_ENTROPY (softmax), HEAD_GAUSS_NEWTON (the seed (diag(p) − ppᵀ)·ż). Outputs the value, the seed
// g = scale·∇φ and (with a tangent) its tangent scale·∇²φ·ż; formulas as in the cpu backend.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = linearId(gid, nwg);
  if (b >= u.B) { return; }
  let K = u.K;
  let row = b * K;
  let c = u32(classes[b]);
  var mx = z[row];
  for (var k = 1u; k < K; k++) { mx = max(mx, z[row + k]); }
  var sum = 0.0;
  for (var k = 0u; k < K; k++) { sum += exp(z[row + k] - mx); }
  // pᵀż
  var pzd = 0.0;
  if (HAS_TANGENT) {
    for (var k = 0u; k < K; k++) { pzd += exp(z[row + k] - mx) / sum * zdot[row + k]; }
  }
  let pc = exp(z[row + c] - mx) / sum;
  if (HEAD == HEAD_LOGIT) { value[b] = z[row + c]; }
  if (HEAD == HEAD_PROBABILITY) { value[b] = pc; }
  if (HEAD == HEAD_CROSS_ENTROPY) { value[b] = mx + log(sum) - z[row + c]; }
  var pcdot = 0.0;
  if (HAS_TANGENT) { pcdot = pc * (zdot[row + c] - pzd); }
  for (var k = 0u; k < K; k++) {
    let p = exp(z[row + k] - mx) / sum;
    var e = 0.0;
    if (k == c) { e = 1.0; }
    var zd = 0.0;
    if (HAS_TANGENT) { zd = zdot[row + k]; }
    if (HEAD == HEAD_LOGIT) { g[row + k] = u.scale * e; }
    if (HEAD == HEAD_PROBABILITY) {
      g[row + k] = u.scale * pc * (e - p);
      if (HAS_TANGENT) { gdot[row + k] = u.scale * (pcdot * (e - p) - pc * p * (zd - pzd)); }
    }
    if (HEAD == HEAD_CROSS_ENTROPY) {
      g[row + k] = u.scale * (p - e);
      if (HAS_TANGENT) { gdot[row + k] = u.scale * p * (zd - pzd); }
    }
    if (HEAD == HEAD_GAUSS_NEWTON) { g[row + k] = u.scale * p * (zd - pzd); }
  }
}
