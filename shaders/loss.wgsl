//! section head
// Loss heads on logits z [B, K], one thread per example. KIND: 0 logit, 1 softmax probability,
// 2 softmax cross-entropy, 3 Gauss–Newton seed (diag(p) − ppᵀ)·ż. Outputs the value, the seed
// g = scale·∇φ and (with a tangent) its tangent scale·∇²φ·ż; formulas as in the cpu backend.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let b = gid.x;
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
  if (KIND == 0u) { value[b] = z[row + c]; }
  if (KIND == 1u) { value[b] = pc; }
  if (KIND == 2u) { value[b] = mx + log(sum) - z[row + c]; }
  var pcdot = 0.0;
  if (HAS_TANGENT) { pcdot = pc * (zdot[row + c] - pzd); }
  for (var k = 0u; k < K; k++) {
    let p = exp(z[row + k] - mx) / sum;
    var e = 0.0;
    if (k == c) { e = 1.0; }
    var zd = 0.0;
    if (HAS_TANGENT) { zd = zdot[row + k]; }
    if (KIND == 0u) { g[row + k] = u.scale * e; }
    if (KIND == 1u) {
      g[row + k] = u.scale * pc * (e - p);
      if (HAS_TANGENT) { gdot[row + k] = u.scale * (pcdot * (e - p) - pc * p * (zd - pzd)); }
    }
    if (KIND == 2u) {
      g[row + k] = u.scale * (p - e);
      if (HAS_TANGENT) { gdot[row + k] = u.scale * p * (zd - pzd); }
    }
    if (KIND == 3u) { g[row + k] = u.scale * p * (zd - pzd); }
  }
}
