import { describe, expect, it } from 'vitest';
import type { WasmBackend } from '../src/backend/wasm/wasm.js';
import { philox4x32, normalFromUniform, uniform01 } from '../src/noise/philox.js';
import { wasmEngine } from './helpers.js';

const hex = (w: number[]) => w.map((v) => v.toString(16).padStart(8, '0'));

describe('Philox4x32-10 (TypeScript twin)', () => {
  // Known-answer vectors of Random123 (kat_vectors, philox4x32 10 rounds).
  it.each([
    [
      [0, 0, 0, 0],
      [0, 0],
      ['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8'],
    ],
    [
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
      [0xffffffff, 0xffffffff],
      ['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd'],
    ],
    [
      [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
      [0xa4093822, 0x299f31d0],
      ['d16cfe09', '94fdcceb', '5001e420', '24126ea1'],
    ],
  ])('counter %j key %j', (c, k, want) => {
    expect(hex(philox4x32(c[0], c[1], c[2], c[3], k[0], k[1]))).toEqual(want);
  });

  it('uniforms lie strictly inside (0, 1) and are symmetric about 1/2', () => {
    expect(uniform01(0)).toBe(2 ** -24);
    expect(uniform01(0xffffffff)).toBe(1 - 2 ** -24);
    expect(uniform01(0) + uniform01(0xffffffff)).toBe(1);
  });

  it("the inverse-CDF normal matches Φ⁻¹ to Giles' accuracy", () => {
    // Φ⁻¹ at a few probabilities (from tables): 0.5 → 0, 0.975 → 1.959963985, 0.999 → 3.090232306, 1e-6 → −4.753424309.
    expect(normalFromUniform(0.5)).toBe(0);
    expect(normalFromUniform(0.975)).toBeCloseTo(1.959963985, 6);
    expect(normalFromUniform(0.999)).toBeCloseTo(3.090232306, 5);
    expect(normalFromUniform(1e-6)).toBeCloseTo(-4.753424309, 4);
  });
});

describe('Philox4x32-10 in the wasm kernels (kernels/philox.ts)', () => {
  it('Random123 known answer for counter 0, key 0', async () => {
    const be = (await (await wasmEngine()).backendForCall()) as WasmBackend;
    expect(hex(Array.from(be.philoxWords(0, 0, 0, [0, 0], 4)))).toEqual([
      '6627e8d5',
      'e169c58d',
      'bc57ac4c',
      '9b00dbd8',
    ]);
  });

  it('raw words are bit-identical to the TypeScript twin over counters and keys with high bits set', async () => {
    const be = (await (await wasmEngine()).backendForCall()) as WasmBackend;
    const cases: [number, number, number, [number, number]][] = [
      [0xffffffff, 0xffffffff, 0xffffffff, [0xffffffff, 0xffffffff]],
      [0x85a308d3, 0x13198a2e, 0x03707344, [0xa4093822, 0x299f31d0]],
      [7, 123456, 1, [42, 0]],
    ];
    for (const [c1, c2, c3, key] of cases) {
      const count = 4 * 300;
      const got = be.philoxWords(c1, c2, c3, key, count);
      const want: number[] = [];
      for (let i = 0; i < count / 4; i++) want.push(...philox4x32(i, c1, c2, c3, key[0], key[1]));
      expect(Array.from(got)).toEqual(want);
    }
  });
});
