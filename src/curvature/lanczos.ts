import { axpy, dot, norm, orthogonalize, tridiagonalEigen } from './linalg.js';

/**
 * One Lanczos recurrence with full reorthogonalisation, kept on the host in float64. The operator
 * products come from outside (batched over many runs by the caller), so runs advance in lockstep:
 * `current` is the vector to multiply next, `step(H·current)` extends the basis.
 *
 *   w = H q_m − α_m q_m − β_{m−1} q_{m−1},  then two passes of classical Gram–Schmidt against q_0..q_m,
 *   β_m = |w|,  q_{m+1} = w / β_m.
 *
 * On breakdown (β_m = 0 to working precision: an invariant subspace) a fresh random vector orthogonal to the
 * basis continues the run with β_m = 0, so T stays block-diagonal and repeated eigenvalues are found; a run
 * that has d basis vectors has spanned the whole space and is exhausted.
 */
export class LanczosRun {
  readonly basis: Float64Array[] = [];
  readonly alpha: number[] = [];
  /** beta[j] couples q_j and q_{j+1}; the last one is the residual norm of the current T. */
  readonly beta: number[] = [];
  /** Largest |entry| of T seen: the scale breakdown is judged against. */
  scale = 0;
  exhausted = false;
  private restarts = 0;

  constructor(
    readonly dim: number,
    private readonly random: (restart: number) => Float64Array,
    private readonly restartOnBreakdown = true,
  ) {
    const q = random(this.restarts++);
    const n = norm(q);
    for (let i = 0; i < q.length; i++) q[i] /= n;
    this.basis.push(q);
  }

  get steps(): number {
    return this.alpha.length;
  }
  get current(): Float64Array {
    return this.basis[this.basis.length - 1];
  }
  /** |β_m|: the coupling of T_m to the rest (0 after a breakdown or when exhausted). */
  get residualNorm(): number {
    return this.beta.length === this.alpha.length ? this.beta[this.beta.length - 1] : 0;
  }

  step(hq: ArrayLike<number>): void {
    const m = this.alpha.length;
    const q = this.basis[m];
    const w = Float64Array.from(hq);
    const a = dot(q, w);
    axpy(-a, q, w);
    if (m > 0) axpy(-this.beta[m - 1], this.basis[m - 1], w);
    orthogonalize(w, this.basis);
    this.alpha.push(a);
    const b = norm(w);
    this.scale = Math.max(this.scale, Math.abs(a), b, m > 0 ? this.beta[m - 1] : 0);
    if (this.basis.length >= this.dim) {
      this.beta.push(0);
      this.exhausted = true;
      return;
    }
    // Breakdown: w vanished to float64 working precision relative to T (an exact invariant subspace).
    // Float32 products leave ~1e-7·|H| of rounding in w; that is a valid direction orthogonal to the basis,
    // so the recurrence goes on with it (its coupling β is the true residual).
    if (b <= 1e-12 * this.scale) {
      if (!this.restartOnBreakdown) {
        this.beta.push(0);
        this.exhausted = true;
        return;
      }
      const r = this.random(this.restarts++);
      const before = norm(r);
      orthogonalize(r, this.basis);
      const after = norm(r);
      this.beta.push(0);
      if (!(after > 1e-8 * before)) {
        this.exhausted = true;
        return;
      }
      for (let i = 0; i < r.length; i++) r[i] /= after;
      this.basis.push(r);
      return;
    }
    for (let i = 0; i < w.length; i++) w[i] /= b;
    this.beta.push(b);
    this.basis.push(w);
  }

  /** Ritz values (ascending) and the eigenvectors of T_m. */
  ritz(): { values: Float64Array; vectors: Float64Array[] } {
    return tridiagonalEigen(this.alpha, this.beta.slice(0, this.alpha.length - 1));
  }

  /** The Ritz vector Q s for an eigenvector s of T. */
  ritzVector(s: Float64Array): Float64Array {
    const y = new Float64Array(this.dim);
    for (let j = 0; j < s.length; j++) axpy(s[j], this.basis[j], y);
    return y;
  }
}
