/**
 * Builds a complete WGSL module from a kernel family's source sections (shaders/*.wgsl, split at
 * `//! section NAME` markers) plus a generated prelude: the uniform struct, the storage bindings and the
 * compile-time constants. Bindings a specialisation leaves out become tiny private arrays, so the family
 * source can name them inside branches that constants switch off. The whole text is the pipeline cache key.
 */
export type ElemType = 'f32' | 'i32' | 'vec4f';

export interface BindingDecl {
  name: string;
  type: ElemType;
  access: 'read' | 'read_write';
  present: boolean;
}

export type UniformValues = Record<string, { type: 'u32' | 'f32'; value: number }>;

export function section(source: string, name: string, file: string): string {
  const parts = source.split(/^\/\/! section /m);
  for (const p of parts.slice(1)) {
    const nl = p.indexOf('\n');
    if (p.slice(0, nl).trim() === name) return p.slice(nl + 1);
  }
  throw new Error(`WGSL section '${name}' not found in ${file}`);
}

export function composeShader(
  uniforms: UniformValues, bindings: readonly BindingDecl[], consts: Record<string, number | boolean>, body: string,
): string {
  const lines: string[] = [];
  const fields = Object.entries(uniforms).map(([k, v]) => `  ${k}: ${v.type},`);
  lines.push('struct Uniforms {', ...fields, '}', '@group(0) @binding(0) var<uniform> u: Uniforms;');
  let slot = 1;
  for (const b of bindings) {
    if (b.present) lines.push(`@group(0) @binding(${slot++}) var<storage, ${b.access}> ${b.name}: array<${b.type}>;`);
    else lines.push(`var<private> ${b.name}: array<${b.type}, 1>;`);
  }
  for (const [k, v] of Object.entries(consts)) {
    lines.push(typeof v === 'boolean' ? `const ${k}: bool = ${v};` : `const ${k}: u32 = ${v >>> 0}u;`);
  }
  return `${lines.join('\n')}\n${body}`;
}

/** Packs uniform values in declaration order (all 4-byte scalars) into a 16-byte-aligned block. */
export function packUniforms(uniforms: UniformValues): ArrayBuffer {
  const n = Object.keys(uniforms).length;
  const buf = new ArrayBuffer(Math.max(16, Math.ceil((n * 4) / 16) * 16));
  const u32 = new Uint32Array(buf), f32 = new Float32Array(buf);
  Object.values(uniforms).forEach((v, i) => {
    if (v.type === 'f32') f32[i] = v.value;
    else u32[i] = v.value;
  });
  return buf;
}
