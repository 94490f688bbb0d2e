// Kernels keyed by structure. A kernel family (shaders/NAME.wgsl) is split into `//! section NAME` parts once,
// when the module loads; a Program names the sections one kernel is made of and declares everything else its
// text depends on: uniforms (names and types, in struct order), storage bindings (name, access, element types
// allowed), specialisation constants (names, in key order) and workgroup size. A dispatch supplies only the
// values: constants, which bindings are present and as which element type, uniform values. Its pipeline key
// is the program id plus those few values, a short string; the WGSL text is composed only when a key is new.
import { preludeWgsl } from './prelude.js';

export type ElemType = 'f32' | 'i32' | 'vec4f';
export type Access = 'read' | 'read_write';
export type ConstValue = number | boolean;

export interface UniformDecl {
  name: string;
  type: 'u32' | 'f32';
}

export interface BindingDecl {
  name: string;
  access: Access;
  /** Element types this binding may be bound as (one for most; f32 or vec4f for GEMM operands). */
  types: readonly ElemType[];
}

export interface ProgramSpec {
  /** Family name (the shader file without .wgsl), for labels and keys. */
  family: string;
  /** The family's sections this kernel is made of, in order; the last one holds `fn main`. */
  sections: readonly string[];
  uniforms: readonly UniformDecl[];
  bindings: readonly BindingDecl[];
  /** Specialisation constants every dispatch must give, in key order. */
  consts: readonly string[];
  workgroupSize: number;
}

/** A program with its source sections resolved (at definition, not per dispatch) and its id. */
export interface Program extends ProgramSpec {
  readonly id: string;
  readonly source: string;
}

/** What a dispatch binds in one slot: a buffer as one of the slot's element types, or nothing. */
export type Bound = { buffer: GPUBuffer; type: ElemType } | null;

/** Splits a family file at its `//! section NAME` markers. Done once per file. */
export function splitSections(source: string, file: string): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  const parts = source.split(/^\/\/! section /m);
  for (const p of parts.slice(1)) {
    const nl = p.indexOf('\n');
    const name = p.slice(0, nl).trim();
    if (out.has(name)) throw new Error(`${file}: section '${name}' appears twice`);
    out.set(name, p.slice(nl + 1));
  }
  return out;
}

/**
 * The kernel families' sections, by family. A program's section `x` is looked up in its own family; `f.x`
 * names section `x` of family `f` (a conv kernel uses gemm's kernels and conv2d's loaders).
 */
export class FamilySources {
  private readonly files = new Map<string, ReadonlyMap<string, string>>();

  add(family: string, source: string): this {
    this.files.set(family, splitSections(source, `${family}.wgsl`));
    return this;
  }

  section(family: string, ref: string): string {
    const dot = ref.indexOf('.');
    const [fam, name] = dot >= 0 ? [ref.slice(0, dot), ref.slice(dot + 1)] : [family, ref];
    const text = this.files.get(fam)?.get(name);
    if (text === undefined) throw new Error(`WGSL section '${name}' not found in ${fam}.wgsl`);
    return text;
  }

  /** Resolves a program's sections once; its id is what every dispatch key starts with. */
  program(spec: ProgramSpec): Program {
    const source = spec.sections.map((s) => this.section(spec.family, s)).join('');
    return { ...spec, id: `${spec.family}/${spec.sections.join('+')}`, source };
  }
}

const TYPE_CHAR: Record<ElemType, string> = { f32: 'f', i32: 'i', vec4f: 'v' };

/**
 * The pipeline key of a dispatch: program id | constant values in declared order | one character per binding
 * slot ('-' absent, 'f' f32, 'i' i32, 'v' vec4f). Two dispatches share a key exactly when they share
 * program, constants and bindings, which is everything composeProgram reads: equal keys, equal text.
 */
export function programKey(p: Program, consts: Readonly<Record<string, ConstValue>>, bound: readonly Bound[]): string {
  let key = p.id + '|';
  for (const name of p.consts) {
    const v = consts[name];
    if (v === undefined) throw new Error(`kernel ${p.id}: specialisation constant ${name} is missing`);
    key += (typeof v === 'boolean' ? (v ? 'T' : 'F') : v >>> 0) + ',';
  }
  key += '|';
  for (const b of bound) key += b ? TYPE_CHAR[b.type] : '-';
  return key;
}

/**
 * The complete WGSL of a dispatch: prelude, the uniform struct, the storage bindings (absent ones become tiny
 * private arrays, so the family source may name them inside branches that constants switch off), the
 * constants, then the program's sections. Called on a pipeline-cache miss only.
 */
export function composeProgram(
  p: Program,
  consts: Readonly<Record<string, ConstValue>>,
  bound: readonly Bound[],
): string {
  const extra = Object.keys(consts).filter((k) => !p.consts.includes(k));
  if (extra.length) throw new Error(`kernel ${p.id}: unknown specialisation constants ${extra.join(', ')}`);
  if (bound.length !== p.bindings.length)
    throw new Error(`kernel ${p.id}: ${bound.length} bindings given, ${p.bindings.length} declared`);
  const lines = [preludeWgsl(p.workgroupSize), 'struct Uniforms {'];
  for (const u of p.uniforms) lines.push(`  ${u.name}: ${u.type},`);
  // An empty struct is not valid WGSL: a padding member keeps the layout of uniform-free kernels legal.
  if (p.uniforms.length === 0) lines.push('  unused: u32,');
  lines.push('}', '@group(0) @binding(0) var<uniform> u: Uniforms;');
  let slot = 1;
  p.bindings.forEach((decl, i) => {
    const b = bound[i];
    if (b && !decl.types.includes(b.type))
      throw new Error(`kernel ${p.id}: binding ${decl.name} cannot be ${b.type} (allowed: ${decl.types.join(', ')})`);
    const type = b?.type ?? decl.types[0];
    if (b) lines.push(`@group(0) @binding(${slot++}) var<storage, ${decl.access}> ${decl.name}: array<${type}>;`);
    else lines.push(`var<private> ${decl.name}: array<${type}, 1>;`);
  });
  for (const name of p.consts) {
    const v = consts[name];
    lines.push(typeof v === 'boolean' ? `const ${name}: bool = ${v};` : `const ${name}: u32 = ${v >>> 0}u;`);
  }
  return `${lines.join('\n')}\n${p.source}`;
}

/** Packs uniform values in the program's declared order (all 4-byte scalars) into a 16-byte-aligned block. */
export function packUniforms(p: Program, values: Readonly<Record<string, number>>): ArrayBuffer {
  const n = p.uniforms.length;
  const buf = new ArrayBuffer(Math.max(16, Math.ceil((n * 4) / 16) * 16));
  const u32 = new Uint32Array(buf),
    f32 = new Float32Array(buf);
  for (let i = 0; i < n; i++) {
    const { name, type } = p.uniforms[i];
    const v = values[name];
    if (v === undefined) throw new Error(`kernel ${p.id}: uniform ${name} is missing`);
    if (type === 'f32') f32[i] = v;
    else u32[i] = v;
  }
  return buf;
}
