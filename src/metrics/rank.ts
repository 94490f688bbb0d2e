// Rank statistics between two batches of attribution maps (Wang et al. 2020, "Smoothed Geometry for
// Robust Attribution", §5; Ghorbani et al. 2019): each example's map is flattened to its n values and
// compared with the same example of the other batch. Callers choose what is ranked: pass |map|, a
// channel-summed map, or any post-processed map.
import { fail } from '../errors.js';
import { show } from '../validate.js';
import type { Tensor } from '../tensor.js';
import { checkPair, row } from './common.js';

/**
 * Top-k intersection: per example, the fraction of the k largest values of `a` whose positions are also
 * among the k largest values of `b`, in [0, 1].
 *
 * "Largest" is by value (pass |map| to rank by magnitude). Ties at the k-th value are broken by lower
 * flat index: the top-k set is every position whose value exceeds the k-th largest value t, filled up
 * with the lowest-index positions whose value equals t. So exactly k positions are chosen from each map.
 * Cost O(n log n) per example (a native numeric sort of the values finds t; one scan picks the set).
 *
 * @param k an integer in [1, n], n = values per example.
 */
export function topKIntersection(a: Tensor, b: Tensor, k: number): number[] {
  const [A, Bm] = checkPair(a, b);
  if (!Number.isInteger(k) || k < 1 || k > A.n) {
    fail('INVALID_ARGUMENT', `k must be an integer in [1, ${A.n}] (the number of values per example), got ${show(k)}`);
  }
  const out: number[] = [];
  const inA = new Uint8Array(A.n);
  for (let e = 0; e < A.B; e++) {
    inA.fill(0);
    topK(row(A, e), k, (i) => {
      inA[i] = 1;
    });
    let common = 0;
    topK(row(Bm, e), k, (i) => {
      common += inA[i];
    });
    out.push(common / k);
  }
  return out;
}

/** Calls `take` on each of the k positions of the top-k set (ties at the k-th value: lower index first). */
function topK(v: Float32Array, k: number, take: (i: number) => void): void {
  const n = v.length;
  const t = Float32Array.from(v).sort()[n - k];
  let need = k;
  for (let i = 0; i < n; i++) if (v[i] > t) need--;
  for (let i = 0; i < n; i++) {
    if (v[i] > t) take(i);
    else if (v[i] === t && need > 0) {
      take(i);
      need--;
    }
  }
}

/**
 * Kendall's τ-b per example, with ties, in O(n log n) (Knight 1966):
 * sort the pairs by (a, b); count the ties in a (n1 = Σ t(t−1)/2 over groups of equal a) and the joint
 * ties (n3, groups equal in both); merge-sort the b values in that order, counting swaps (the discordant
 * pairs n_d); count the ties in b (n2) on the sorted b. With n0 = n(n−1)/2,
 * n_c − n_d = n0 − n1 − n2 + n3 − 2·n_d and
 *
 *   τ_b = (n_c − n_d) / √((n0 − n1)(n0 − n2)).
 *
 * Returns NaN for an example whose map (a or b) is constant, or has a single value: τ_b is undefined
 * there (0/0), as in scipy.stats.kendalltau.
 */
export function kendallTau(a: Tensor, b: Tensor): number[] {
  const [A, Bm] = checkPair(a, b);
  const out: number[] = [];
  for (let e = 0; e < A.B; e++) out.push(tauB(row(A, e), row(Bm, e)));
  return out;
}

function tauB(x: Float32Array, y: Float32Array): number {
  const n = x.length;
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((i, j) => x[i] - x[j] || y[i] - y[j]);
  const ys = new Float64Array(n);
  for (let k = 0; k < n; k++) ys[k] = y[idx[k]];
  // Ties in x and joint ties (runs of equal (x, y) lie within runs of equal x).
  let n1 = 0,
    n3 = 0;
  for (let s = 0; s < n;) {
    let e = s + 1;
    while (e < n && x[idx[e]] === x[idx[s]]) e++;
    n1 += pairs(e - s);
    for (let s2 = s; s2 < e;) {
      let e2 = s2 + 1;
      while (e2 < e && ys[e2] === ys[s2]) e2++;
      n3 += pairs(e2 - s2);
      s2 = e2;
    }
    s = e;
  }
  const { swaps, sorted } = mergeSortCount(ys);
  let n2 = 0;
  for (let s = 0; s < n;) {
    let e = s + 1;
    while (e < n && sorted[e] === sorted[s]) e++;
    n2 += pairs(e - s);
    s = e;
  }
  const n0 = pairs(n);
  if (n0 - n1 === 0 || n0 - n2 === 0) return NaN;
  const tau = (n0 - n1 - n2 + n3 - 2 * swaps) / Math.sqrt((n0 - n1) * (n0 - n2));
  return Math.max(-1, Math.min(1, tau));
}

const pairs = (t: number) => (t * (t - 1)) / 2;

/** Bottom-up merge sort; counts the pairs i < j with v[i] > v[j] (strictly: equal values are no swap). */
function mergeSortCount(v: Float64Array): { swaps: number; sorted: Float64Array } {
  const n = v.length;
  let src: Float64Array = v,
    dst: Float64Array = new Float64Array(n),
    swaps = 0;
  for (let w = 1; w < n; w *= 2) {
    for (let lo = 0; lo < n; lo += 2 * w) {
      const mid = Math.min(lo + w, n),
        hi = Math.min(lo + 2 * w, n);
      let i = lo,
        j = mid,
        k = lo;
      while (i < mid && j < hi) {
        if (src[j] < src[i]) {
          dst[k++] = src[j++];
          swaps += mid - i;
        } else dst[k++] = src[i++];
      }
      while (i < mid) dst[k++] = src[i++];
      while (j < hi) dst[k++] = src[j++];
    }
    [src, dst] = [dst, src];
  }
  return { swaps, sorted: src };
}

/**
 * Spearman's ρ per example: the Pearson correlation of the ranks, ties given their average rank
 * (as scipy.stats.spearmanr). O(n log n). NaN for an example whose map (a or b) is constant.
 */
export function spearman(a: Tensor, b: Tensor): number[] {
  const [A, Bm] = checkPair(a, b);
  const out: number[] = [];
  for (let e = 0; e < A.B; e++) out.push(pearson(averageRanks(row(A, e)), averageRanks(row(Bm, e))));
  return out;
}

/** Ranks 1..n, each run of equal values given the mean of the ranks it spans. */
export function averageRanks(v: ArrayLike<number>): Float64Array {
  const n = v.length;
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((i, j) => v[i] - v[j]);
  const r = new Float64Array(n);
  for (let s = 0; s < n;) {
    let e = s + 1;
    while (e < n && v[idx[e]] === v[idx[s]]) e++;
    const avg = (s + e + 1) / 2; // mean of ranks s+1 .. e
    for (let k = s; k < e; k++) r[idx[k]] = avg;
    s = e;
  }
  return r;
}

function pearson(x: Float64Array, y: Float64Array): number {
  const n = x.length;
  let mx = 0,
    my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0,
    sxx = 0,
    syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx,
      dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}
