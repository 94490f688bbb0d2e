// Pointwise activations with their first and second derivatives; ACT is a compile-time constant (one of the
// prelude's ACT_RELU, ACT_SOFTPLUS (β), ACT_TANH, ACT_SIGMOID), so each pipeline holds one branch. The value and tangent
// streams go through the same dispatch.

//! section common
fn sigmoid(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}

// log(1 + e) for e in [0, 1], accurate when e is tiny (WGSL has no log1p).
fn log1pSmall(e: f32) -> f32 {
  if (e < 1e-4) { return e * (1.0 - e * (0.5 - e / 3.0)); }
  return log(1.0 + e);
}

// (f, f′, f″) at z.
fn act(z: f32) -> vec3f {
  if (ACT == ACT_RELU) {
    if (z > 0.0) { return vec3f(z, 1.0, 0.0); }
    return vec3f(0.0, 0.0, 0.0);
  }
  if (ACT == ACT_SOFTPLUS) {
    let bz = u.beta * z;
    let s = sigmoid(bz);
    return vec3f((max(bz, 0.0) + log1pSmall(exp(-abs(bz)))) / u.beta, s, u.beta * s * (1.0 - s));
  }
  if (ACT == ACT_TANH) {
    // Clamped: tanh is ±1 in f32 beyond |z| ≈ 9, and some drivers overflow exp inside tanh.
    let t = tanh(clamp(z, -15.0, 15.0));
    let d = 1.0 - t * t;
    return vec3f(t, d, -2.0 * t * d);
  }
  let s = sigmoid(z);
  let d = s * (1.0 - s);
  return vec3f(s, d, d * (1.0 - 2.0 * s));
}

//! section forward
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  let d = act(z[i]);
  y[i] = d.x;
  if (HAS_TANGENT) { ydot[i] = d.y * zdot[i]; }
}

//! section backward
// z̄ = σ′·ȳ and its tangent σ′·ẏ̄ + σ″·ż·ȳ.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  let d = act(z[i]);
  let g = gy[i];
  gz[i] = d.y * g;
  if (HAS_GYDOT || HAS_ZDOT) {
    var t = 0.0;
    if (HAS_GYDOT) { t += d.y * gydot[i]; }
    if (HAS_ZDOT) { t += d.z * zdot[i] * g; }
    gzdot[i] = t;
  }
}

//! section fill
// out[i] = 0: zeros made on the device (a zero tangent), so nothing of that size is uploaded.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  out[i] = 0.0;
}

//! section add
// out = a + b: the add layer, and gradients summed where a value feeds several layers.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  out[i] = a[i] + b[i];
}

//! section copy_blocks
// dst[b·dstBlock + dstOffset + j] = src[b·srcBlock + srcOffset + j]: concatenation along channels and its slices.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  let b = i / u.length;
  let j = i % u.length;
  dst[b * u.dstBlock + u.dstOffset + j] = src[b * u.srcBlock + u.srcOffset + j];
}
