import type { ActivationKind } from './backend.js';

/**
 * f, f′ and f″ of each pointwise activation in float64: the reference for the WGSL in
 * shaders/pointwise.wgsl. Written in overflow-safe forms (softplus through log1p of exp(−|βz|)).
 */
export function activationDerivatives(
  kind: ActivationKind,
  beta: number,
  z: number,
): { f: number; d1: number; d2: number } {
  switch (kind) {
    case 'relu':
      // The derivative at 0 is taken as 0, as PyTorch does; f″ = 0 everywhere it exists.
      return { f: z > 0 ? z : 0, d1: z > 0 ? 1 : 0, d2: 0 };
    case 'softplus': {
      // softplus_β(z) = log(1 + exp(βz))/β; f′ = sigmoid(βz); f″ = β·s·(1 − s).
      const bz = beta * z;
      const f = (Math.max(bz, 0) + Math.log1p(Math.exp(-Math.abs(bz)))) / beta;
      const s = sigmoid(bz);
      return { f, d1: s, d2: beta * s * (1 - s) };
    }
    case 'tanh': {
      const t = Math.tanh(z);
      return { f: t, d1: 1 - t * t, d2: -2 * t * (1 - t * t) };
    }
    case 'sigmoid': {
      const s = sigmoid(z);
      return { f: s, d1: s * (1 - s), d2: s * (1 - s) * (1 - 2 * s) };
    }
  }
}

function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}
