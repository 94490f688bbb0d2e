import { describe, expect, it } from 'vitest';
import type { Backend, NoiseKind, SamplePlan } from '../src/backend/backend.js';
import { CpuBackend } from '../src/backend/cpu.js';
import { normalFromUniform, seedKey } from '../src/noise/philox.js';
import { BACKENDS, FLOAT32_BACKENDS, webgpuEngine } from './helpers.js';

/**
 * The noise generator through the real kernels: draws are the sample inputs of x = 0. Statistical
 * thresholds come from the sample size (4 standard errors for moments, the α = 0.01 Kolmogorov–Smirnov
 * critical value 1.628/√n), not from what happened to pass; the seeds are fixed, so the outcome is reproducible.
 */
async function draws(
  be: Backend,
  noise: NoiseKind,
  B: number,
  N: number,
  d: number,
  scale: number,
  seed = 2024,
): Promise<Float64Array> {
  const plan: SamplePlan = {
    noise,
    key: seedKey(seed),
    exampleIds: be.uploadIndices(
      Array.from({ length: B }, (_, b) => b),
      [B],
      'ids',
    ),
    params: be.upload([...new Array(B).fill(scale), 1, 1], [B + 2], 'plan'),
    given: null,
    noiseSamples: N,
    steps: 1,
    baseline: null,
    multiply: false,
    absolute: false,
  };
  const x = be.upload(new Float32Array(B * d), [B, d], 'zeros');
  const ball = noise === 'ball' ? be.ballFactors(plan, d) : null;
  const [out] = await be.read([be.sampleInputs(plan, x, 0, N, ball)]);
  return Float64Array.from(out);
}

const mean = (a: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
};
const variance = (a: ArrayLike<number>) => {
  const m = mean(a);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - m) ** 2;
  return s / a.length;
};
function ks(sample: Float64Array, cdf: (v: number) => number): number {
  const s = Float64Array.from(sample).sort();
  let d = 0;
  s.forEach((v, i) => {
    const f = cdf(v);
    d = Math.max(d, f - i / s.length, (i + 1) / s.length - f);
  });
  return d;
}
/** Φ by the complementary error function (Numerical Recipes' erfc, |error| < 1.2e-7). */
function phi(z: number): number {
  const x = Math.abs(z) / Math.SQRT2,
    t = 1 / (1 + 0.5 * x);
  const erfc =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return z >= 0 ? 1 - erfc / 2 : erfc / 2;
}
function correlation(a: number[], b: number[]): number {
  const ma = mean(a),
    mb = mean(b);
  let ab = 0,
    aa = 0,
    bb = 0;
  a.forEach((v, i) => {
    ab += (v - ma) * (b[i] - mb);
    aa += (v - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  });
  return ab / Math.sqrt(aa * bb);
}

const backends: [string, () => Promise<Backend>][] = BACKENDS.map(([name, engine]) => [
  name,
  async () => (await engine()).backendForCall(),
]);

for (const [name, get] of backends) {
  describe(`noise on ${name}`, () => {
    const [B, N, d] = name === 'cpu' ? [2, 50, 1000] : [2, 16, 1024];
    const n = B * N * d;
    const ks01 = 1.628 / Math.sqrt(n);

    it('Gaussian: mean 0, variance 1, Kolmogorov–Smirnov against N(0, 1)', async () => {
      const z = await draws(await get(), 'gaussian', B, N, d, 1);
      expect(Math.abs(mean(z))).toBeLessThan(4 / Math.sqrt(n));
      expect(Math.abs(variance(z) - 1)).toBeLessThan(4 * Math.sqrt(2 / n));
      expect(ks(z, phi)).toBeLessThan(ks01);
    });

    it('cube: uniform on (−1, 1): mean 0, variance 1/3, Kolmogorov–Smirnov', async () => {
      const u = await draws(await get(), 'cube', B, N, d, 1);
      expect(Math.max(...u)).toBeLessThan(1);
      expect(Math.min(...u)).toBeGreaterThan(-1);
      expect(Math.abs(mean(u))).toBeLessThan(4 * Math.sqrt(1 / 3 / n));
      expect(Math.abs(variance(u) - 1 / 3)).toBeLessThan(4 * Math.sqrt(4 / 45 / n)); // Var(U²) = 1/5 − 1/9
      expect(ks(u, (v) => (v + 1) / 2)).toBeLessThan(ks01);
    });

    it('ball: every draw inside radius r, and (|ε|/r)^d uniform on (0, 1)', async () => {
      const [Bb, Nb, db, r] = [2, 200, 64, 0.5];
      const e = await draws(await get(), 'ball', Bb, Nb, db, r);
      const u = new Float64Array(Bb * Nb);
      for (let k = 0; k < Bb * Nb; k++) {
        let s = 0;
        for (let i = 0; i < db; i++) s += e[k * db + i] ** 2;
        const radius = Math.sqrt(s);
        expect(radius).toBeLessThanOrEqual(r * (1 + 1e-6));
        u[k] = Math.min(1, radius / r) ** db;
      }
      expect(ks(u, (v) => v)).toBeLessThan(1.628 / Math.sqrt(u.length));
    });

    it('neighbouring streams are uncorrelated: elements, samples and examples', async () => {
      const z = Array.from(await draws(await get(), 'gaussian', B, N, d, 1));
      const at = (b: number, s: number, i: number) => z[(b * N + s) * d + i];
      const pairs = (f: (b: number, s: number, i: number) => [number, number], S: number, I: number) => {
        const a: number[] = [],
          c: number[] = [];
        for (let s = 0; s < S; s++)
          for (let i = 0; i < I; i++) {
            const [p, q] = f(0, s, i);
            a.push(p);
            c.push(q);
          }
        return correlation(a, c);
      };
      const bound = (m: number) => 4 / Math.sqrt(m);
      expect(Math.abs(pairs((b, s, i) => [at(b, s, i), at(b, s, i + 1)], N, d - 1))).toBeLessThan(bound(N * (d - 1)));
      expect(Math.abs(pairs((b, s, i) => [at(b, s, i), at(b, s + 1, i)], N - 1, d))).toBeLessThan(bound((N - 1) * d));
      expect(Math.abs(pairs((_b, s, i) => [at(0, s, i), at(1, s, i)], N, d))).toBeLessThan(bound(N * d));
    });
  });
}

describe('the same noise on every backend', () => {
  it.each(FLOAT32_BACKENDS)(
    '%s: cube draws are bit-identical (they carry the Philox words exactly); Gaussian and ball agree to float32 rounding',
    async (_name, engine) => {
      const gpu = await (await engine()).backendForCall(),
        cpu = new CpuBackend();
      const [B, N, d] = [3, 5, 103];
      const [uc, ug] = [await draws(cpu, 'cube', B, N, d, 1, 77), await draws(gpu, 'cube', B, N, d, 1, 77)];
      expect(Array.from(ug)).toEqual(Array.from(uc));
      for (const kind of ['gaussian', 'ball'] as const) {
        const [zc, zg] = [await draws(cpu, kind, B, N, d, 0.3, 78), await draws(gpu, kind, B, N, d, 0.3, 78)];
        let worst = 0;
        zc.forEach((v, i) => {
          worst = Math.max(worst, Math.abs(v - zg[i]));
        });
        expect(worst, kind).toBeLessThan(1e-5); // |z| ≤ 5.3 at 23-bit uniforms; float32 log/sqrt ≈ 1e-6
      }
    },
  );

  it('ball noise past 65,535 (example, sample) pairs: the ball-factor grid is folded like every other grid', async () => {
    // One workgroup per pair; 2 × 32,800 = 65,600 pairs exceed the 65,535 workgroups a dimension allows.
    const gpu = await (await webgpuEngine()).backendForCall(),
      cpu = new CpuBackend();
    const [B, N, d] = [2, 32_800, 3];
    const [zc, zg] = [await draws(cpu, 'ball', B, N, d, 0.5, 79), await draws(gpu, 'ball', B, N, d, 0.5, 79)];
    let worst = 0;
    zc.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - zg[i]));
    });
    expect(worst).toBeLessThan(1e-5); // as above: float32 rounding of the same draws, in every pair up to the last
  });

  it.each(FLOAT32_BACKENDS)(
    '%s: ball noise on long inputs (d > 1024: on webgpu a workgroup per pair reduces |z|²) agrees with cpu',
    async (_name, engine) => {
      const gpu = await (await engine()).backendForCall(),
        cpu = new CpuBackend();
      const [B, N, d] = [2, 3, 1100];
      const [zc, zg] = [await draws(cpu, 'ball', B, N, d, 0.5, 80), await draws(gpu, 'ball', B, N, d, 0.5, 80)];
      let worst = 0;
      zc.forEach((v, i) => {
        worst = Math.max(worst, Math.abs(v - zg[i]));
      });
      expect(worst).toBeLessThan(1e-5);
    },
  );

  it('the inverse-CDF transform is monotone with tails at the 23-bit limits', () => {
    expect(normalFromUniform(2 ** -24)).toBeLessThan(-5.2);
    expect(normalFromUniform(1 - 2 ** -24)).toBeGreaterThan(5.2);
    let prev = -Infinity;
    for (let k = 1; k < 2000; k++) {
      const z = normalFromUniform(k / 2000);
      expect(z).toBeGreaterThan(prev);
      prev = z;
    }
  });
});
