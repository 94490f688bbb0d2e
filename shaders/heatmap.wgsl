// The heatmap render pipeline (src/render/heatmap.ts): one textured quad over an attribution map.
// The vertex stage places the map's [0, W] × [0, H] cell rectangle on the canvas with the view matrix
// (wgpu-matrix: orthographic projection × fit-to-canvas × zoom); the fragment stage reads the map cell
// under the pixel (nearest, textureLoad: r32float is not filterable) and applies the colour map.

struct View {
  // Map cell coordinates → clip space.
  matrix: mat4x4<f32>,
  // The map's width and height in cells.
  size: vec2<f32>,
  // 1 / max |v|: the colour scale, as in heatmapPng.
  inv_bound: f32,
  // 0: sequential (|v|, black–red–yellow–white); 1: diverging (blue–white–red around 0).
  palette: u32,
}

@group(0) @binding(0) var<uniform> view: View;
@group(0) @binding(1) var map: texture_2d<f32>;

struct Varying {
  @builtin(position) position: vec4<f32>,
  // Map cell coordinates, interpolated over the quad.
  @location(0) cell: vec2<f32>,
}

@vertex
fn vs(@builtin(vertex_index) i: u32) -> Varying {
  // Two triangles over the unit square, scaled to the map's size in cells.
  var corners = array<vec2<f32>, 6>(
    vec2(0.0, 0.0), vec2(1.0, 0.0), vec2(0.0, 1.0),
    vec2(0.0, 1.0), vec2(1.0, 0.0), vec2(1.0, 1.0),
  );
  let cell = corners[i] * view.size;
  var out: Varying;
  out.position = view.matrix * vec4(cell, 0.0, 1.0);
  out.cell = cell;
  return out;
}

// The same ramps as src/io/png.ts (sequential, diverging), rounded to 8 bits as there.
fn quantise(c: vec3<f32>) -> vec3<f32> {
  return round(clamp(c, vec3(0.0), vec3(1.0)) * 255.0) / 255.0;
}

fn sequential(t: f32) -> vec3<f32> {
  return quantise(vec3(3.0 * t, 3.0 * t - 1.0, 3.0 * t - 2.0));
}

fn diverging(t: f32) -> vec3<f32> {
  let fade = 1.0 - min(1.0, abs(t));
  if (t >= 0.0) {
    return quantise(vec3(1.0, fade, fade));
  }
  return quantise(vec3(fade, fade, 1.0));
}

@fragment
fn fs(in: Varying) -> @location(0) vec4<f32> {
  let dims = vec2<i32>(textureDimensions(map));
  let at = clamp(vec2<i32>(floor(in.cell)), vec2(0), dims - vec2(1));
  let v = textureLoad(map, at, 0).r * view.inv_bound;
  var rgb: vec3<f32>;
  if (view.palette == 1u) {
    rgb = diverging(v);
  } else {
    rgb = sequential(abs(v));
  }
  return vec4(rgb, 1.0);
}
