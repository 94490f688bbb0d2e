import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { createEngine, type Engine } from '../src/engine.js';
import { parseSafetensors } from '../src/io/safetensors.js';
import type { Tensor } from '../src/tensor.js';
import type { ConvGeom } from '../src/backend/backend.js';

export const ORACLE_DIR = join(import.meta.dirname, 'fixtures', 'oracle');

export interface OracleCase {
  name: string;
  json: Record<string, any> & { model: unknown; target: number[]; labels: number[]; batch: number };
  bytes: Uint8Array;
  tensors: Map<string, Tensor>;
}

/** Every case in the oracle folder (NAME.json + NAME.safetensors); nothing is hard-coded. */
export function oracleCases(): OracleCase[] {
  return readdirSync(ORACLE_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -5);
      const bytes = new Uint8Array(readFileSync(join(ORACLE_DIR, `${name}.safetensors`)));
      return {
        name,
        json: JSON.parse(readFileSync(join(ORACLE_DIR, f), 'utf8')),
        bytes,
        tensors: parseSafetensors(bytes).tensors,
      };
    });
}

export function relL2(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let num = 0,
    den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}

/** Deterministic uniform numbers in [lo, hi) (mulberry32). */
export function rng(seed: number): (lo?: number, hi?: number) => number {
  let a = seed >>> 0;
  return (lo = 0, hi = 1) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  };
}

export function randomTensor(shape: number[], r: ReturnType<typeof rng>, lo = -1, hi = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from({ length: n }, () => r(lo, hi)) };
}

let gpuEngine: Promise<Engine> | null = null;
/** One WebGPU engine per test file. Never skipped: no adapter is a failure. */
export function webgpuEngine(): Promise<Engine> {
  gpuEngine ??= createEngine({ backend: 'webgpu' });
  return gpuEngine;
}
export const cpuEngine = (): Promise<Engine> => createEngine({ backend: 'cpu' });

let wasmEngineP: Promise<Engine> | null = null;
/** One wasm engine per test file. */
export function wasmEngine(): Promise<Engine> {
  wasmEngineP ??= createEngine({ backend: 'wasm' });
  return wasmEngineP;
}

// Each test file's shared engines are disposed when its tests end, so its process exits with no Dawn device and
// no wasm worker threads still alive (a process torn down with them had, now and then, exited abnormally).
afterAll(async () => {
  const engines = await Promise.all([gpuEngine, wasmEngineP].map((p) => p?.catch(() => null) ?? null));
  for (const e of engines) e?.dispose();
  gpuEngine = wasmEngineP = null;
});

/**
 * The one list of backends the tests run on: the float64 reference and the two float32 backends. Tests
 * that compare against the reference use FLOAT32_BACKENDS.
 */
export const BACKENDS: [name: 'cpu' | 'webgpu' | 'wasm', engine: () => Promise<Engine>][] = [
  ['cpu', cpuEngine],
  ['webgpu', webgpuEngine],
  ['wasm', wasmEngine],
];
export const FLOAT32_BACKENDS = BACKENDS.filter(([name]) => name !== 'cpu');

/**
 * A convolution's geometry from its sizes, output sizes derived (floor((h + 2p − d(k − 1) − 1)/s) + 1): the
 * one builder the conv tests share.
 */
export function convGeom(
  n: number,
  c: number,
  h: number,
  w: number,
  o: number,
  [kh, kw]: [number, number],
  [sh, sw]: [number, number] = [1, 1],
  [ph, pw]: [number, number] = [0, 0],
  [dh, dw]: [number, number] = [1, 1],
  groups = 1,
): ConvGeom {
  const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1,
    ow = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  return { n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, groups, oh, ow };
}
