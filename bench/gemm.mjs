// GEMM throughput of smoothgeo (Backend.matmul through bench/kernels.ts), tf.matMul (webgpu) and jax-js
// np.matmul (webgpu) on square n×n·n×n products (2n³ flops): R products recorded back to back and one
// readback, R picked so one timed batch takes about `targetMs` on our GEMM. Used by run.mjs and gpu.mjs.
import { errText, rng, timeReps } from './harness.mjs';
import { relL2 } from './peers.mjs';

/** Inputs with O(1) results. @param {number} n */
function gemmInputs(n) {
  const r = rng(0xabc + n),
    a = new Float32Array(n * n),
    b = new Float32Array(n * n);
  const s = 1 / Math.sqrt(n);
  for (let i = 0; i < n * n; i++) {
    a[i] = r();
    b[i] = r() * s;
  }
  return { a, b };
}

/**
 * 256 sampled entries of A·B in float64 against `got`: the largest error relative to the sum of |terms|.
 * @param {number} n @param {Float32Array} a @param {Float32Array} b @param {Float32Array} got
 */
export function spotCheck(n, a, b, got) {
  const r = rng(0x777 + n);
  let worst = 0;
  for (let k = 0; k < 256; k++) {
    const i = Math.floor(((r() + 1) / 2) * n),
      j = Math.floor(((r() + 1) / 2) * n);
    let s = 0,
      scale = 0;
    for (let t = 0; t < n; t++) {
      s += a[i * n + t] * b[t * n + j];
      scale += Math.abs(a[i * n + t] * b[t * n + j]);
    }
    worst = Math.max(worst, Math.abs(got[i * n + j] - s) / (scale || 1));
  }
  return worst;
}

/** @typedef {{ run(R: number): Promise<Float32Array>, release(): void }} GemmRunner */

/** The peers' GEMMs. @param {any} tf @param {any} jax */
function peerGemms(tf, jax) {
  return {
    /** @param {number} n @param {Float32Array} a @param {Float32Array} b @returns {GemmRunner} */
    tfjs: (n, a, b) => {
      const A = tf.tensor2d(a, [n, n]),
        Bt = tf.tensor2d(b, [n, n]);
      return {
        async run(R) {
          const outs = [];
          try {
            for (let i = 0; i < R; i++) outs.push(tf.matMul(A, Bt));
            return await outs[R - 1].data();
          } finally {
            for (const o of outs) o.dispose();
          }
        },
        release() {
          A.dispose();
          Bt.dispose();
        },
      };
    },
    /** @param {number} n @param {Float32Array} a @param {Float32Array} b @returns {GemmRunner} */
    'jax-js': (n, a, b) => {
      const np = jax.numpy;
      const A = np.array(a, { shape: [n, n], device: 'webgpu' }),
        Bj = np.array(b, { shape: [n, n], device: 'webgpu' });
      return {
        async run(R) {
          // jax-js is lazy: an array that is never realized is never computed, so realize all R, then read one.
          const outs = [];
          for (let i = 0; i < R; i++) outs.push(np.matmul(A.ref, Bj.ref));
          await jax.blockUntilReady(outs);
          for (let i = 0; i < R - 1; i++) outs[i].dispose();
          return await outs[R - 1].data(); // consumes it
        },
        release() {
          A.dispose();
          Bj.dispose();
        },
      };
    },
  };
}

/**
 * One row per size: R, and per library ms per batch, ms per product, GFLOP/s and a correctness check
 * (ours: spot check against float64; peers: relative L2 against ours).
 * @param {{ engine: any, kernels: any, tf: any, jax: any, sizes: number[], targetMs: number, maxR: number,
 *   repeats: number, budgetMs: number, peers?: boolean }} o
 */
export async function benchGemm(o) {
  const rows = [];
  const peers = o.peers === false ? {} : peerGemms(o.tf, o.jax);
  for (const n of o.sizes) {
    const { a, b } = gemmInputs(n);
    const flops = 2 * n ** 3;
    /** @type {{ n: number, flops: number, R: number | null, libs: Record<string, any> }} */
    const row = { n, flops, R: null, libs: {} };
    const ours = await o.kernels.prepareGemm(o.engine, n, a, b);
    let ref = null;
    try {
      ref = await ours.run(1); // compiles; untimed
      const t = performance.now(); // R from one more call at R = 1
      await ours.run(1);
      const t1 = performance.now() - t;
      row.R = Math.max(1, Math.min(o.maxR, Math.round(o.targetMs / t1)));
      const ms = await timeReps((R) => ours.run(R), row.R, {
        repeats: o.repeats,
        budgetMs: o.budgetMs,
        warm: row.R > 1,
      });
      row.libs.smoothgeo = {
        ms,
        msPerMatmul: ms / row.R,
        gflops: (flops * row.R) / (ms * 1e6),
        spotErr: spotCheck(n, a, b, ref),
      };
    } catch (e) {
      row.libs.smoothgeo = { error: errText(e) };
    } finally {
      ours.release();
    }
    const R = row.R ?? 1;
    for (const [lib, make] of Object.entries(peers)) {
      /** @type {GemmRunner | null} */
      let p = null;
      try {
        const runner = (p = make(n, a, b));
        const got = await runner.run(1); // compiles; untimed
        const ms = await timeReps((r) => runner.run(r), R, { repeats: o.repeats, budgetMs: o.budgetMs, warm: R > 1 });
        row.libs[lib] = {
          ms,
          msPerMatmul: ms / R,
          gflops: (flops * R) / (ms * 1e6),
          relL2VsSmoothgeo: ref ? relL2(got, ref) : null,
        };
      } catch (e) {
        row.libs[lib] = { error: errText(e) };
      } finally {
        p?.release();
      }
      const L = row.libs[lib],
        S = row.libs.smoothgeo;
      if (L?.ms && S?.ms) L.peerOverSmoothgeo = L.msPerMatmul / S.msPerMatmul;
    }
    rows.push(row);
  }
  return rows;
}
