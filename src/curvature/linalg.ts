// Small float64 helpers on the host: dot products, Gram–Schmidt and the symmetric tridiagonal eigenproblem.

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

/** y += c·x */
export function axpy(c: number, x: ArrayLike<number>, y: Float64Array): void {
  for (let i = 0; i < y.length; i++) y[i] += c * x[i];
}

/**
 * Removes from w its components along the orthonormal vectors in `basis`: classical Gram–Schmidt applied
 * twice ("twice is enough", Giraud et al. 2005), which keeps w orthogonal to working precision.
 */
export function orthogonalize(w: Float64Array, basis: readonly Float64Array[], passes = 2): void {
  const c = new Float64Array(basis.length);
  for (let p = 0; p < passes; p++) {
    for (let j = 0; j < basis.length; j++) c[j] = dot(basis[j], w);
    for (let j = 0; j < basis.length; j++) axpy(-c[j], basis[j], w);
  }
}

/**
 * Eigenvalues (ascending) and eigenvectors of the symmetric tridiagonal matrix with diagonal `diag` (n) and
 * off-diagonal `off` (n − 1), by the implicit QL algorithm with Wilkinson shifts (EISPACK tql2, as in
 * JAMA). `vectors[i]` is the eigenvector of `values[i]` (length n).
 */
export function tridiagonalEigen(
  diag: ArrayLike<number>,
  off: ArrayLike<number>,
): { values: Float64Array; vectors: Float64Array[] } {
  const n = diag.length;
  const d = Float64Array.from(diag);
  const e = new Float64Array(n);
  for (let i = 0; i < n - 1; i++) e[i] = off[i];
  // V is stored by rows: V[r][c]; the eigenvector i is column i.
  const V: Float64Array[] = Array.from({ length: n }, (_, i) => {
    const r = new Float64Array(n);
    r[i] = 1;
    return r;
  });
  let f = 0,
    tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 60 * n) throw new Error('tridiagonalEigen: QL iteration did not converge');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1,
          c2 = c,
          c3 = c;
        const el1 = e[l + 1];
        let s = 0,
          s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          for (let k = 0; k < n; k++) {
            const Vk = V[k];
            h = Vk[i + 1];
            Vk[i + 1] = s * Vk[i] + c * h;
            Vk[i] = c * Vk[i] - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => d[a] - d[b]);
  return {
    values: Float64Array.from(order, (i) => d[i]),
    vectors: order.map((i) => Float64Array.from(V, (row) => row[i])),
  };
}
