import { normalFromUniform, philox4x32, uniform01 } from '../noise/philox.js';

// Random vectors of the curvature algorithms, from Philox4x32-10 keyed by the seed. The counter is
// (block of elements, sample, example, stream), the layout of the noise kernels with streams of their own,
// so vector `sample` of example `example` is a pure function of the seed: the same on every backend,
// batch layout and chunking of the probes.

export const STREAM = {
  /** Start (and restart) vectors of Lanczos and power iteration: Gaussian. */
  start: 2,
  /** Hutchinson / Hutch++ probes: Rademacher. */
  probe: 3,
  /** Hutch++ sketch S: Rademacher. */
  sketch: 4,
  /** Stochastic Lanczos quadrature probes: Rademacher. */
  density: 5,
} as const;

/** A standard normal vector of length d (one Philox call gives four elements). */
export function gaussianVector(
  key: [number, number],
  example: number,
  sample: number,
  stream: number,
  d: number,
): Float64Array {
  const out = new Float64Array(d);
  for (let i = 0; i < d; i += 4) {
    const w = philox4x32(i / 4, sample, example, stream, key[0], key[1]);
    for (let j = 0; j < 4 && i + j < d; j++) out[i + j] = normalFromUniform(uniform01(w[j]));
  }
  return out;
}

/** A Rademacher (±1) vector of length d (one Philox call gives 128 signs). */
export function rademacherVector(
  key: [number, number],
  example: number,
  sample: number,
  stream: number,
  d: number,
): Float64Array {
  const out = new Float64Array(d);
  for (let i = 0; i < d; i += 128) {
    const w = philox4x32(i / 128, sample, example, stream, key[0], key[1]);
    for (let j = 0; j < 128 && i + j < d; j++) out[i + j] = (w[j >>> 5] >>> (j & 31)) & 1 ? 1 : -1;
  }
  return out;
}
