// Non-finite detection: marks flags[0] with the stage number when t holds an Infinity or a NaN. Tested on
// the bits (exponent all ones), since compilers may assume floats are finite and fold isinf/isnan away.
// Threads of one dispatch all write the same value, and dispatches run in order, so the first stage that
// sees a non-finite value is the one that stays (no atomics needed).

//! section check
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linearId(gid, nwg);
  if (i >= u.total) { return; }
  if ((bitcast<u32>(t[i]) & 0x7f800000u) == 0x7f800000u && flags[0] == 0) {
    flags[0] = i32(u.stage);
  }
}
