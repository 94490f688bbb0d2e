// Training kernels: optimiser steps (in place on a parameter and its state), SSR seeds on the logits,
// per-row normalisation (power iteration), an L∞ PGD step and on-device training metrics. The float64
// twin in src/backend/cpu-train.ts defines what each computes; formulas match it term by term.

//! section grad
// Σ scale·grad over the step's terms (TWO_TERMS: a second one, e.g. SSR's on top of the cross-entropy's).
fn gradAt(i: u32) -> f32 {
  var g = u.s1 * g1[i];
  if (TWO_TERMS) { g += u.s2 * g2[i]; }
  return g;
}

//! section sgd
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  let g = gradAt(i) + u.weightDecay * param[i];
  let v = u.momentum * state1[i] + g;
  state1[i] = v;
  var d = v;
  if (NESTEROV) { d = g + u.momentum * v; }
  param[i] = param[i] - u.lr * d;
}

//! section adam
// bc1 = 1 − β1^t and bc2 = 1 − β2^t come from the host (the step count lives there, not on the device), and
// so do omb1 = 1 − β1 and omb2 = 1 − β2: in float32, 1.0 − 0.999 loses 1e-5 of its value to the rounding of 0.999.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  let g = gradAt(i) + u.weightDecay * param[i];
  let m = u.beta1 * state1[i] + u.omb1 * g;
  let v = u.beta2 * state2[i] + u.omb2 * g * g;
  state1[i] = m;
  state2[i] = v;
  param[i] = param[i] - u.lr * (m / u.bc1) / (sqrt(v / u.bc2) + u.eps);
}

//! section ssr_seeds
// One thread per example: softmax p of z, m = pᵀż, λ = Σ p_k (ż_k − m)² = żᵀ(diag(p) − ppᵀ)ż,
// g = 2·scale·p ⊙ (ż − m), gdot = scale·p ⊙ ((ż − m)² − λ). HAS_CE adds ceScale·(p − e_label) to gdot: on the
// tangent stream of backward2 it comes out as ceScale·∂CE/∂θ (Jθᵀ is linear), so one sweep gives SSR's whole
// training gradient.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = linearId(gid, nwg);
  if (b >= u.B) { return; }
  let K = u.K;
  let row = b * K;
  var mx = z[row];
  for (var k = 1u; k < K; k++) { mx = max(mx, z[row + k]); }
  var sum = 0.0;
  for (var k = 0u; k < K; k++) { sum += exp(z[row + k] - mx); }
  var m = 0.0;
  for (var k = 0u; k < K; k++) { m += exp(z[row + k] - mx) / sum * zdot[row + k]; }
  var lam = 0.0;
  for (var k = 0u; k < K; k++) {
    let e = zdot[row + k] - m;
    lam += exp(z[row + k] - mx) / sum * e * e;
  }
  lambda[b] = lam;
  for (var k = 0u; k < K; k++) {
    let p = exp(z[row + k] - mx) / sum;
    let e = zdot[row + k] - m;
    g[row + k] = 2.0 * u.scale * p * e;
    var ce = 0.0;
    if (HAS_CE) {
      var onehot = 0.0;
      if (k == u32(classes[b])) { onehot = 1.0; }
      ce = u.ceScale * (p - onehot);
    }
    gdot[row + k] = u.scale * p * (e * e - lam) + ce;
  }
}

//! section gather_rows
// out[b, :] = store[index[b], :] (warm starts of power iteration, one row per example).
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  let b = i / u.d;
  out[i] = store[u32(index[b]) * u.d + i % u.d];
}

//! section scatter_rows
// store[index[b], :] = rows[b, :]; the indices of one call are distinct, so no two threads write one value.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  let b = i / u.d;
  store[u32(index[b]) * u.d + i % u.d] = rows[i];
}

//! section normalize_rows
// One workgroup per row: a tree reduction of the squares in workgroup memory, then the scaling.
var<workgroup> partial: array<f32, WORKGROUP_SIZE>;
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wid.x;
  let base = r * u.d;
  var s = 0.0;
  for (var i = lid.x; i < u.d; i += WORKGROUP_SIZE) { s += v[base + i] * v[base + i]; }
  partial[lid.x] = s;
  workgroupBarrier();
  for (var w = WORKGROUP_SIZE / 2u; w > 0u; w = w / 2u) {
    if (lid.x < w) { partial[lid.x] += partial[lid.x + w]; }
    workgroupBarrier();
  }
  let ss = partial[0];
  var scale = 0.0;
  if (ss > 0.0) { scale = inverseSqrt(ss); }
  for (var i = lid.x; i < u.d; i += WORKGROUP_SIZE) { out[base + i] = v[base + i] * scale; }
}

//! section pgd_step
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  let t = xadv[i] + u.step * sign(grad[i]);
  let projected = min(x[i] + u.epsilon, max(x[i] - u.epsilon, t));
  out[i] = min(u.hi, max(u.lo, projected));
}

//! section metrics
// A single thread folds the batch into stats (B is a minibatch: tens to hundreds of rows), so the sums
// are in a fixed order and the result is deterministic.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main() {
  let K = u.K;
  var ce = 0.0;
  var correct = 0.0;
  var lam = 0.0;
  for (var b = 0u; b < u.B; b++) {
    let row = b * K;
    var mx = z[row];
    var arg = 0u;
    for (var k = 1u; k < K; k++) {
      if (z[row + k] > mx) { mx = z[row + k]; arg = k; }
    }
    var sum = 0.0;
    for (var k = 0u; k < K; k++) { sum += exp(z[row + k] - mx); }
    let c = u32(classes[b]);
    ce += mx + log(sum) - z[row + c];
    if (arg == c) { correct += 1.0; }
    if (HAS_LAMBDA) { lam += lambda[b]; }
  }
  stats[0] += ce;
  stats[1] += correct;
  stats[2] += f32(u.B);
  stats[3] += lam;
}
