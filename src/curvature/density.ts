import { encode } from 'fast-png';
import { fail } from '../errors.js';
import type { Model } from '../graph/model.js';
import type { Objective } from '../graph/objective.js';
import { seedKey } from '../noise/philox.js';
import type { Tensor } from '../tensor.js';
import { LanczosRun } from './lanczos.js';
import { checkWork } from '../limits.js';
import {
  checkChoice,
  checkInt,
  checkOptions,
  checkPositive,
  checkHostVectors,
  checkProducts,
  checkSeed,
  operatorFor,
  type SpaceOptions,
} from './options.js';
import { rademacherVector, STREAM } from './random.js';

export interface HessianDensityOptions extends SpaceOptions {
  /** Lanczos steps per probe (default 64, at most d). */
  iterations?: number;
  /** Independent probes per example (default 8); all run in lockstep, one batched call per step. */
  probes?: number;
  /** Stops the call (an ABORTED error) when it fires; checked before every batched product. */
  signal?: AbortSignal;
  /** Seed of the Rademacher probes (Philox); drawn and reported when omitted. */
  seed?: number;
}

/** A discrete spectral density: Ritz values and their weights (summing to 1). */
export interface SpectralDensity {
  nodes: number[];
  weights: number[];
}

export interface HessianDensityResult {
  /** Per example (one in the parameter space). */
  values: SpectralDensity[];
  /** Lanczos steps per example and probe (fewer than asked when a probe's Krylov space is exhausted). */
  steps: number[][];
  seed: number;
}

const OPTIONS = ['iterations', 'probes', 'seed', 'space', 'gaussNewton', 'signal'];

/**
 * The spectral density of the Hessian by stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019;
 * PyHessian's `density`): for each normalised Rademacher probe v, m Lanczos steps give T_m = S Θ Sᵀ, and
 * vᵀ f(H) v ≈ Σ_i f(θ_i) S_{0i}². The density is the average over probes: nodes θ_i with weights S_{0i}²/probes.
 * Its mean Σ w_i θ_i is the Hutchinson estimate of tr(H)/d.
 */
export async function hessianDensity(
  model: Model,
  x: Tensor,
  objective: Objective,
  options?: HessianDensityOptions,
): Promise<HessianDensityResult> {
  const o = checkOptions<HessianDensityOptions>('hessianDensity', options, OPTIONS);
  const op = operatorFor('hessianDensity', model, x, objective, o);
  const B = op.batch,
    d = op.dim;
  const iterations = Math.min(d, checkInt('hessianDensity: iterations', o.iterations, 64, 1));
  const probes = checkInt('hessianDensity: probes', o.probes, 8, 1);
  checkProducts('hessianDensity', B * probes * iterations);
  checkHostVectors('hessianDensity', B * probes * (iterations + 1) * d);
  const seed = checkSeed(o.seed);
  const key = seedKey(seed);
  // Run j·B + b is probe j of example b: the layout of applyBlock.
  const runs: LanczosRun[] = [];
  for (let j = 0; j < probes; j++) {
    for (let b = 0; b < B; b++) {
      runs.push(new LanczosRun(d, () => rademacherVector(key, op.examples[b], j, STREAM.density, d), false));
    }
  }
  for (let step = 0; step < iterations; step++) {
    const live = runs.filter((r) => !r.exhausted);
    if (!live.length) break;
    const V = new Float32Array(runs.length * d);
    runs.forEach((r, i) => {
      if (!r.exhausted) V.set(r.current, i * d);
    });
    const W = await op.applyBlock(V, probes);
    runs.forEach((r, i) => {
      if (!r.exhausted) r.step(W.subarray(i * d, (i + 1) * d));
    });
  }
  const values: SpectralDensity[] = [];
  const steps: number[][] = [];
  for (let b = 0; b < B; b++) {
    const nodes: number[] = [],
      weights: number[] = [],
      st: number[] = [];
    for (let j = 0; j < probes; j++) {
      const run = runs[j * B + b];
      const { values: theta, vectors } = run.ritz();
      theta.forEach((t, i) => {
        nodes.push(t);
        weights.push(vectors[i][0] ** 2 / probes);
      });
      st.push(run.steps);
    }
    values.push({ nodes, weights });
    steps.push(st);
  }
  return { values, steps, seed };
}

export interface DensityPlotOptions {
  /** Standard deviation of the Gaussian kernel on each node (default: 1% of the node range, or 1e-3 if it is 0). */
  sigma?: number;
  /** Image size in pixels (default 640 × 360). */
  width?: number;
  height?: number;
  /** Points of the density curve between the left and right ends (default: one per plot column). */
  bins?: number;
  /** 'linear' (default) or 'log' (log10 of the density, PyHessian's plots, floored at 1e-7 of the peak). */
  scale?: 'linear' | 'log';
}

/**
 * A PNG of the Gaussian-smoothed density ρ(t) = Σ_i w_i N(t; θ_i, σ²) over [min θ − 4σ, max θ + 4σ]:
 * the curve in blue, the axes in black, λ = 0 as a grey vertical line when in range. No text.
 */
export function densityPlotPng(density: SpectralDensity, options: DensityPlotOptions = {}): Uint8Array {
  const o = checkOptions<DensityPlotOptions>('densityPlotPng', options, ['sigma', 'width', 'height', 'bins', 'scale']);
  if (
    density === null ||
    typeof density !== 'object' ||
    !Array.isArray(density.nodes) ||
    !Array.isArray(density.weights) ||
    density.nodes.length !== density.weights.length ||
    density.nodes.length === 0
  ) {
    fail(
      'INVALID_ARGUMENT',
      'densityPlotPng: density must be { nodes: number[], weights: number[] } of equal, non-zero length',
    );
  }
  const { nodes, weights } = density;
  if (!nodes.every(Number.isFinite) || !weights.every((w) => Number.isFinite(w) && w >= 0)) {
    fail('INVALID_ARGUMENT', 'densityPlotPng: nodes must be finite and weights finite and >= 0');
  }
  const width = checkInt('densityPlotPng: width', o.width, 640, 32, 8192);
  const height = checkInt('densityPlotPng: height', o.height, 360, 32, 8192);
  const margin = 8;
  const plotW = width - 2 * margin,
    plotH = height - 2 * margin;
  const bins = checkInt('densityPlotPng: bins', o.bins, plotW, 2, 1 << 20);
  const scale = checkChoice('densityPlotPng: scale', o.scale, ['linear', 'log'] as const, 'linear');
  checkWork('plotTerms', nodes.length * bins, 'densityPlotPng: the kernel terms (nodes × bins)', 'use fewer bins');
  const lo0 = Math.min(...nodes),
    hi0 = Math.max(...nodes);
  const sigma = checkPositive(
    'densityPlotPng: sigma',
    o.sigma,
    hi0 > lo0 ? (hi0 - lo0) / 100 : Math.max(1e-3, Math.abs(hi0) * 1e-3),
  );
  const lo = lo0 - 4 * sigma,
    hi = hi0 + 4 * sigma;
  const rho = new Float64Array(bins);
  const c = 1 / (sigma * Math.sqrt(2 * Math.PI));
  for (let i = 0; i < bins; i++) {
    const t = lo + ((hi - lo) * i) / (bins - 1);
    let s = 0;
    for (let j = 0; j < nodes.length; j++) s += weights[j] * Math.exp(-0.5 * ((t - nodes[j]) / sigma) ** 2);
    rho[i] = s * c;
  }
  const peak = Math.max(...rho) || 1;
  const floor = 1e-7 * peak;
  const yOf = (r: number) => {
    const f =
      scale === 'linear'
        ? r / peak
        : (Math.log10(Math.max(r, floor)) - Math.log10(floor)) / (Math.log10(peak) - Math.log10(floor));
    return margin + Math.round((1 - f) * (plotH - 1));
  };
  const xOf = (t: number) => margin + Math.round(((t - lo) / (hi - lo)) * (plotW - 1));

  const rgba = new Uint8Array(width * height * 4).fill(255);
  const put = (px: number, py: number, [r, g, b]: [number, number, number]) => {
    if (px < 0 || py < 0 || px >= width || py >= height) return;
    rgba.set([r, g, b, 255], (py * width + px) * 4);
  };
  const line = (x0: number, y0: number, x1: number, y1: number, col: [number, number, number]) => {
    // Bresenham.
    const dx = Math.abs(x1 - x0),
      dy = -Math.abs(y1 - y0),
      sx = x0 < x1 ? 1 : -1,
      sy = y0 < y1 ? 1 : -1;
    let err = dx + dy;
    for (;;) {
      put(x0, y0, col);
      if (x0 === x1 && y0 === y1) break;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y0 += sy;
      }
    }
  };
  if (lo < 0 && hi > 0) line(xOf(0), margin, xOf(0), height - margin - 1, [190, 190, 190]);
  line(margin, height - margin - 1, width - margin - 1, height - margin - 1, [0, 0, 0]);
  line(margin, margin, margin, height - margin - 1, [0, 0, 0]);
  let px = xOf(lo),
    py = yOf(rho[0]);
  for (let i = 1; i < bins; i++) {
    const nx = xOf(lo + ((hi - lo) * i) / (bins - 1)),
      ny = yOf(rho[i]);
    line(px, py, nx, ny, [31, 119, 180]);
    px = nx;
    py = ny;
  }
  return encode({ width, height, data: rgba, channels: 4, depth: 8 });
}
