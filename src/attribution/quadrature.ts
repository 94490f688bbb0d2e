import { fail } from '../errors.js';
import { int, show } from '../validate.js';
import { checkWork } from '../limits.js';

/** Path points α_s ∈ [0, 1] and weights w_s (summing to 1) for integrated gradients' ∫₀¹ ∂f(base + α(x − base)) dα. */
export type QuadratureRule = 'left' | 'right' | 'middle' | 'trapezoid' | 'gauss-legendre';
export const QUADRATURE_RULES: QuadratureRule[] = ['left', 'right', 'middle', 'trapezoid', 'gauss-legendre'];

export function quadrature(rule: QuadratureRule, steps: number): { alphas: number[]; weights: number[] } {
  int('quadrature: steps', steps, undefined, 1);
  // Gauss–Legendre costs steps² on the host: refused past the attribution limit before it starts.
  checkWork('gradientEvaluations', steps, 'quadrature: the path steps', 'use fewer steps');
  const S = steps;
  switch (rule) {
    case 'left':
      return riemann(S, 0);
    case 'right':
      return riemann(S, 1);
    case 'middle':
      return riemann(S, 0.5);
    case 'trapezoid': {
      if (S < 2) fail('INVALID_ARGUMENT', `the trapezoid rule needs steps >= 2, got ${S}`);
      const alphas = Array.from({ length: S }, (_, k) => k / (S - 1));
      const weights = alphas.map((_, k) => (k === 0 || k === S - 1 ? 0.5 : 1) / (S - 1));
      return { alphas, weights };
    }
    case 'gauss-legendre':
      return gaussLegendre(S);
    default:
      return fail('INVALID_ARGUMENT', `rule must be one of ${QUADRATURE_RULES.join(', ')}, got ${show(rule)}`);
  }
}

function riemann(S: number, offset: number): { alphas: number[]; weights: number[] } {
  return { alphas: Array.from({ length: S }, (_, k) => (k + offset) / S), weights: new Array(S).fill(1 / S) };
}

/**
 * Gauss–Legendre nodes and weights on [0, 1]: Newton's method on P_S from the Chebyshev-like initial
 * guesses cos(π(i − ¼)/(S + ½)), with P_S and P′_S by the three-term recurrence. Exact for polynomials
 * of degree 2S − 1.
 */
function gaussLegendre(S: number): { alphas: number[]; weights: number[] } {
  const alphas = new Array<number>(S),
    weights = new Array<number>(S);
  for (let i = 0; i < Math.ceil(S / 2); i++) {
    let t = Math.cos((Math.PI * (i + 0.75)) / (S + 0.5));
    let dp = 0;
    for (let it = 0; it < 100; it++) {
      let p0 = 1,
        p1 = t;
      for (let k = 2; k <= S; k++) [p0, p1] = [p1, ((2 * k - 1) * t * p1 - (k - 1) * p0) / k];
      if (S === 1) p1 = t;
      dp = (S * (t * p1 - (S === 1 ? 1 : p0))) / (t * t - 1);
      const step = p1 / dp;
      t -= step;
      if (Math.abs(step) < 1e-16) break;
    }
    const w = 2 / ((1 - t * t) * dp * dp);
    // t and −t map to 1 ∓ α; list nodes in increasing α.
    alphas[i] = (1 - t) / 2;
    weights[i] = w / 2;
    alphas[S - 1 - i] = (1 + t) / 2;
    weights[S - 1 - i] = w / 2;
  }
  return { alphas, weights };
}
