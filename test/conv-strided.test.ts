// conv2d backward-input at stride > 1 (conv2d.wgsl backward_input_phase): one GEMM per phase of the input
// grid over only the taps that reach it. Against the float64 cpu backend on awkward shapes: stride 2 and 3,
// odd sizes, padding, 1×1 kernels (phases that no tap reaches, stored as zeros), rectangular strides, groups,
// accumulation. Tolerance from the math: each output sums at most K = o·kh·kw products in order with fma, so
// it errs by at most γ_K·Σ|terms| (+ one rounding for the store and one for the accumulation).
import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend/backend.js';
import { CpuBackend } from '../src/backend/cpu.js';
import { convGeom, randomTensor, rng, webgpuEngine } from './helpers.js';

const U = 2 ** -24;
const cpu = new CpuBackend();

describe('strided conv2d backward-input by phases, against float64', () => {
  it.each([
    ['3×3 stride 2 pad 1, odd sizes', convGeom(2, 3, 9, 7, 4, [3, 3], [2, 2], [1, 1]), false],
    [
      '1×1 stride 2 (ResNet downsample): three phases get no tap',
      convGeom(2, 5, 7, 8, 6, [1, 1], [2, 2], [0, 0]),
      false,
    ],
    ['2×3 kernel, stride [3, 2], pad [1, 0]', convGeom(1, 2, 11, 9, 3, [2, 3], [3, 2], [1, 0]), false],
    ['stride 3 larger than the 2×2 kernel', convGeom(2, 2, 10, 10, 2, [2, 2], [3, 3], [0, 0]), false],
    ['groups 2, stride 2, accumulated into', convGeom(2, 4, 8, 9, 6, [3, 3], [2, 2], [1, 1], [1, 1], 2), true],
    [
      '7×7 stride 2 pad 3 (ResNet conv1), 17 output channels',
      convGeom(1, 3, 16, 16, 17, [7, 7], [2, 2], [3, 3]),
      false,
    ],
  ])('%s', async (_name, g, accumulate) => {
    const r = rng(g.h * 31 + g.w);
    const gy = randomTensor([g.n, g.o, g.oh, g.ow], r).data;
    const wt = randomTensor([g.o, g.c / g.groups, g.kh, g.kw], r).data;
    const into = accumulate ? randomTensor([g.n, g.c, g.h, g.w], r).data : null;
    const run = async (be: Backend, a: Float32Array, b: Float32Array, acc: Float32Array | null) => {
      const out = be.conv2dBackwardInput(
        be.upload(a, [g.n, g.o, g.oh, g.ow], 'gy'),
        be.upload(b, [g.o, g.c / g.groups, g.kh, g.kw], 'w'),
        g,
        acc && be.upload(acc, [g.n, g.c, g.h, g.w], 'into'),
      );
      return (await be.read([out]))[0];
    };
    const gpu = await (await webgpuEngine()).backendForCall();
    const got = await run(gpu, gy, wt, into);
    const want = await run(cpu, gy, wt, into);
    const abs = (d: Float32Array) => d.map(Math.abs);
    const scale = await run(cpu, abs(gy), abs(wt), into && abs(into));
    const K = (g.o / g.groups) * g.kh * g.kw + 2;
    const gamma = (K * U) / (1 - K * U);
    expect(got.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) {
      const bound = gamma * scale[i] + U * Math.abs(want[i]);
      if (!(Math.abs(got[i] - want[i]) <= bound))
        throw new Error(`element ${i}: got ${got[i]}, want ${want[i]}, bound ${bound}`);
    }
  });
});
