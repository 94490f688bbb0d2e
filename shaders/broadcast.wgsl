// Numpy broadcasting: a binary op (KIND, one of the prelude's BINARY_*) of two operands each read at its
// broadcast position, and its adjoint, the sum of a tensor over the dimensions an operand was broadcast
// along (the gradient of a constant per channel, of a value added to a bigger one, …). Geometries have up to
// 6 dimensions, passed as uniforms and padded in front with size-1 dimensions.

//! section binary
// out[i] = a[ia] ∘ b[ib]: i unravelled over the output's dimensions, each operand's offset from its strides
// (0 along a dimension it is broadcast over).
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  var dims = array<u32, 6>(u.d0, u.d1, u.d2, u.d3, u.d4, u.d5);
  var sa = array<u32, 6>(u.a0, u.a1, u.a2, u.a3, u.a4, u.a5);
  var sb = array<u32, 6>(u.b0, u.b1, u.b2, u.b3, u.b4, u.b5);
  var rest = i;
  var ia = 0u;
  var ib = 0u;
  for (var k = 5i; k >= 0i; k--) {
    let c = rest % dims[k];
    rest = rest / dims[k];
    ia += c * sa[k];
    ib += c * sb[k];
  }
  let x = a[ia];
  let y = b[ib];
  if (KIND == BINARY_ADD) { out[i] = x + y; }
  else if (KIND == BINARY_SUB) { out[i] = x - y; }
  else if (KIND == BINARY_MUL) { out[i] = x * y; }
  else { out[i] = x / y; }
}

//! section sum_to
// out[j] = scale · Σ_r t[base(j) + off(r)]: j unravelled over the kept dimensions, r over the summed ones.
// One thread per output value; the outputs are parameters or broadcast operands, the sums their gradients.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = linearId(gid, nwg);
  if (j >= u.total) { return; }
  var kd = array<u32, 6>(u.k0, u.k1, u.k2, u.k3, u.k4, u.k5);
  var ks = array<u32, 6>(u.ks0, u.ks1, u.ks2, u.ks3, u.ks4, u.ks5);
  var rd = array<u32, 6>(u.r0, u.r1, u.r2, u.r3, u.r4, u.r5);
  var rs = array<u32, 6>(u.rs0, u.rs1, u.rs2, u.rs3, u.rs4, u.rs5);
  var rest = j;
  var base = 0u;
  for (var k = 5i; k >= 0i; k--) {
    base += (rest % kd[k]) * ks[k];
    rest = rest / kd[k];
  }
  var s = 0.0;
  for (var r = 0u; r < u.inner; r++) {
    var q = r;
    var off = base;
    for (var k = 5i; k >= 0i; k--) {
      off += (q % rd[k]) * rs[k];
      q = q / rd[k];
    }
    s += t[off];
  }
  out[j] = u.scale * s;
}
