// Kernels keyed by structure (src/backend/webgpu/program.ts): the pipeline key is short, two different
// specialisations never share a key (equal keys ⇔ equal composed text), and a cached dispatch composes no text.
import { describe, expect, it } from 'vitest';
import {
  composeProgram,
  FamilySources,
  programKey,
  type Bound,
  type ConstValue,
} from '../src/backend/webgpu/program.js';
import { createEngine } from '../src/engine.js';
import { loadModel } from '../src/graph/model.js';
import { smoothGrad } from '../src/attribution/methods.js';
import { oracleCases, rng } from './helpers.js';

const FAMILY = `//! section common
fn helper() -> f32 { return 1.0; }
//! section main
@compute @workgroup_size(WORKGROUP_SIZE) fn main() { if (FLAG) { out[0] = helper() * f32(COUNT + other[0]); } }
`;
const sources = new FamilySources().add('demo', FAMILY);
const program = sources.program({
  family: 'demo',
  sections: ['common', 'main'],
  uniforms: [{ name: 'n', type: 'u32' }],
  bindings: [
    { name: 'other', access: 'read', types: ['f32', 'vec4f'] },
    { name: 'out', access: 'read_write', types: ['f32'] },
  ],
  consts: ['FLAG', 'COUNT'],
  workgroupSize: 64,
});
const buffer = {} as GPUBuffer; // never touched: keys and text depend on the element type only

describe('kernel programs keyed by structure', () => {
  it('two different specialisations never share a key; equal keys mean equal text', () => {
    // Every combination, each twice, in a shuffled order: FLAG (2) × COUNT (12) × other absent/f32/vec4f (3).
    // COUNT runs to 11 so that values whose digits could run together without separators (1,1 vs 11) occur.
    const specs: { consts: Record<string, ConstValue>; bound: Bound[] }[] = [];
    for (const FLAG of [false, true]) {
      for (let COUNT = 0; COUNT < 12; COUNT++) {
        for (const other of [null, { buffer, type: 'f32' as const }, { buffer, type: 'vec4f' as const }]) {
          specs.push({ consts: { FLAG, COUNT }, bound: [other, { buffer, type: 'f32' }] });
          specs.push({ consts: { COUNT, FLAG }, bound: [other, { buffer, type: 'f32' }] }); // insertion order does not matter
        }
      }
    }
    const r = rng(7);
    specs.sort(() => r() - 0.5);
    const byKey = new Map<string, string>(),
      byText = new Map<string, string>();
    for (const s of specs) {
      const key = programKey(program, s.consts, s.bound),
        text = composeProgram(program, s.consts, s.bound);
      expect(byKey.get(key) ?? text).toBe(text);
      expect(byText.get(text) ?? key).toBe(key);
      byKey.set(key, text);
      byText.set(text, key);
    }
    expect(byKey.size).toBe(72);
    expect(programKey(program, { FLAG: true, COUNT: 3 }, [null, { buffer, type: 'f32' }])).toBe(
      'demo/common+main|T,3,|-f',
    );
  });

  it('a key never spans two programs, and a missing or unknown constant is refused', () => {
    const other = sources.program({ ...program, sections: ['main'] });
    const bound: Bound[] = [null, { buffer, type: 'f32' }];
    expect(programKey(other, { FLAG: true, COUNT: 1 }, bound)).not.toBe(
      programKey(program, { FLAG: true, COUNT: 1 }, bound),
    );
    expect(() => programKey(program, { FLAG: true }, bound)).toThrow(/specialisation constant COUNT is missing/);
    expect(() => composeProgram(program, { FLAG: true, COUNT: 1, EXTRA: 2 }, bound)).toThrow(
      /unknown specialisation constants EXTRA/,
    );
    expect(() => composeProgram(program, { FLAG: true, COUNT: 1 }, [null, { buffer, type: 'i32' }])).toThrow(
      /binding out cannot be i32/,
    );
  });

  it('a cached dispatch composes no text: the second identical call compiles nothing', async () => {
    const composed: string[] = [];
    const engine = await createEngine({ backend: 'webgpu', debug: { dumpShaders: (key) => composed.push(key) } });
    const c = oracleCases().find((k) => k.name === 'lenet')!;
    const model = await loadModel(engine, c.json.model, c.bytes, { prefix: 'param.' });
    const x = c.tensors.get('x')!,
      v = c.tensors.get('v')!;
    const calls = [
      () => model.inputHvp(x, v, { kind: 'logit', target: c.json.target }),
      () => smoothGrad(model, x, { target: c.json.target, sigma: 0.1, samples: 4, seed: 3 }),
    ];
    for (const call of calls) await call();
    const first = composed.length;
    expect(first).toBeGreaterThan(5);
    expect(new Set(composed).size).toBe(first); // each key composed once
    for (const call of calls) await call();
    expect(composed.length).toBe(first);
    engine.dispose();
  });
});
