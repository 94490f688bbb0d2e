// Philox4x32-10 and the noise of a sample plan; the exact twin of src/noise/philox.ts. Counter words:
// (element/4, sample, example id, stream), stream 0 for per-element noise and 1 for per-sample radii.

//! section philox
fn mulhi(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let lo = a0 * b0; let mid1 = a1 * b0; let mid2 = a0 * b1;
  let carry = ((lo >> 16u) + (mid1 & 0xffffu) + (mid2 & 0xffffu)) >> 16u;
  return a1 * b1 + (mid1 >> 16u) + (mid2 >> 16u) + carry;
}

fn philox(counter: vec4u, key: vec2u) -> vec4u {
  var c = counter;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) { k = k + vec2u(0x9e3779b9u, 0xbb67ae85u); }
    let hi0 = mulhi(0xd2511f53u, c.x); let lo0 = 0xd2511f53u * c.x;
    let hi1 = mulhi(0xcd9e8d57u, c.z); let lo1 = 0xcd9e8d57u * c.z;
    c = vec4u(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
  }
  return c;
}

// 23 random bits → (0, 1), exact in f32.
fn uniform01(bits: u32) -> f32 { return (f32(bits >> 9u) + 0.5) * 1.1920928955078125e-7; }

// Standard normal by Giles' single-precision erfinv: z = √2·erfinv(2u − 1), with 1 − x² = 4u(1 − u).
fn normalFromUniform(u: f32) -> f32 {
  let x = 2.0 * u - 1.0;
  var w = -log(4.0 * u * (1.0 - u));
  var p: f32;
  if (w < 5.0) {
    w = w - 2.5;
    p = 2.81022636e-8;
    p = 3.43273939e-7 + p * w;
    p = -3.5233877e-6 + p * w;
    p = -4.39150654e-6 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = sqrt(w) - 3.0;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  return 1.4142135623730951 * p * x;
}

//! section noise
// NOISE: one of the prelude's NOISE_NONE, NOISE_GAUSSIAN, NOISE_CUBE, NOISE_BALL, NOISE_GIVEN. The unit draw of one element from its Philox word:
// a standard normal (gaussian, and the ball's direction) or a uniform on (−1, 1) (cube).
fn unitDraw(bits: u32) -> f32 {
  if (NOISE == NOISE_CUBE) { return 2.0 * uniform01(bits) - 1.0; }
  return normalFromUniform(uniform01(bits));
}

// The four Philox words for elements 4g..4g+3 of noise sample n of example b.
fn drawWords(b: u32, n: u32, g: u32) -> vec4u {
  return philox(vec4u(g, n, u32(exampleIds[b]), 0u), vec2u(u.key0, u.key1));
}

// planParams holds [σ or r per example (B) | path points α (S) | path weights w (S)].
fn exampleScale(b: u32) -> f32 { return planParams[b]; }
fn pathAlpha(s: u32) -> f32 { return planParams[u.B + s]; }
fn pathWeight(s: u32) -> f32 { return planParams[u.B + u.S + s]; }

// Scale of a unit draw: σ or r per example, or for the ball r·U^(1/d)/|z| per (example, sample).
fn noiseScale(b: u32, n: u32) -> f32 {
  if (NOISE == NOISE_BALL) { return ballFactors[b * u.N + n]; }
  return exampleScale(b);
}

// ε for element i (in group g = i/4, lane i%4) of sample n of example b.
fn noiseValue(b: u32, n: u32, i: u32, words: vec4u) -> f32 {
  if (NOISE == NOISE_NONE) { return 0.0; }
  if (NOISE == NOISE_GIVEN) { return given[n * u.d + i]; }
  return noiseScale(b, n) * unitDraw(words[i % 4u]);
}

//! section ball_factors
// One workgroup per (example, sample): |z| over all d normals, then r·U^(1/d)/|z| (U from stream 1), so that
// ε = factor·z is uniform in the L2 ball of radius r. The B·N workgroups are folded into x and y like every
// other grid (65,535 per dimension); the surplus workgroups of the last row return at once (uniformly, so
// the barriers below stay in uniform control flow).
// The tree below halves WORKGROUP_SIZE down to 1.
const_assert (WORKGROUP_SIZE & (WORKGROUP_SIZE - 1u)) == 0u;
var<workgroup> partials: array<f32, WORKGROUP_SIZE>;
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let pair = wid.x + wid.y * nwg.x; // a workgroup per pair: the workgroup's own linear index
  if (pair >= u.B * u.N) { return; }
  let b = pair / u.N;
  let n = pair % u.N;
  var s = 0.0;
  for (var g = lid.x; g * 4u < u.d; g += WORKGROUP_SIZE) {
    let words = drawWords(b, n, g);
    for (var lane = 0u; lane < 4u; lane++) {
      if (g * 4u + lane < u.d) { let z = unitDraw(words[lane]); s += z * z; }
    }
  }
  partials[lid.x] = s;
  workgroupBarrier();
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride >>= 1u) {
    if (lid.x < stride) { partials[lid.x] += partials[lid.x + stride]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    let radiusU = uniform01(philox(vec4u(0u, n, u32(exampleIds[b]), 1u), vec2u(u.key0, u.key1)).x);
    ballFactors[b * u.N + n] = exampleScale(b) * pow(radiusU, 1.0 / f32(u.d)) / sqrt(partials[0]);
  }
}

//! section ball_factors_serial
// The same factors with one thread per (example, sample), for short inputs (d ≤ 1024): a workgroup per pair
// would spend its time in barriers, which software adapters pay dearly (SwiftShader: 65,600 pairs at d = 3
// took a minute). Threads are folded into x and y like every 1-D grid.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let pair = linearId(gid, nwg);
  if (pair >= u.B * u.N) { return; }
  let b = pair / u.N;
  let n = pair % u.N;
  var s = 0.0;
  for (var g = 0u; g * 4u < u.d; g++) {
    let words = drawWords(b, n, g);
    for (var lane = 0u; lane < 4u; lane++) {
      if (g * 4u + lane < u.d) { let z = unitDraw(words[lane]); s += z * z; }
    }
  }
  let radiusU = uniform01(philox(vec4u(0u, n, u32(exampleIds[b]), 1u), vec2u(u.key0, u.key1)).x);
  ballFactors[b * u.N + n] = exampleScale(b) * pow(radiusU, 1.0 / f32(u.d)) / sqrt(s);
}

//! section sample_inputs
// Network inputs of the chunk's samples: row (b, j) holds sample q = q0 + j of example b, which is noise
// sample n = q / S at path point s = q % S: baseline + α_s·(x + ε_n − baseline). One Philox call per
// thread gives four neighbouring elements.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linearId(gid, nwg);
  let groups = (u.d + 3u) / 4u;
  if (t >= u.B * u.len * groups) { return; }
  let g = t % groups;
  let row = t / groups;
  let b = row / u.len;
  let q = u.q0 + row % u.len;
  let n = q / u.S;
  let alpha = pathAlpha(q % u.S);
  var words = vec4u(0u);
  if (NOISE != NOISE_NONE && NOISE != NOISE_GIVEN) { words = drawWords(b, n, g); }
  for (var lane = 0u; lane < 4u; lane++) {
    let i = g * 4u + lane;
    if (i < u.d) {
      let xv = x[b * u.d + i] + noiseValue(b, n, i, words);
      var base = 0.0;
      if (HAS_BASELINE) { base = baseline[b * u.d + i]; }
      out[row * u.d + i] = base + alpha * (xv - base);
    }
  }
}
