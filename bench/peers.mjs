// Reference ("peer") implementations of our model format in TensorFlow.js (webgpu backend) and jax-js
// (webgpu device), used by the benchmark to compare against smoothgeo on the same adapter, in the same
// Node process.
//
// Every peer exposes the same small interface (see `Peer` below). Inputs are plain `{shape, data}`
// objects with NCHW layout (as in the oracle fixtures); outputs are Float32Arrays read back to the CPU.
// Nothing here catches a peer's own error: a method that the peer cannot run throws what the peer threw.
//
// Usage:
//   const info = await installNodeWebGPU();            // before importing/using either peer
//   const c = await loadOracleCase('lenet');
//   const tfp = await makeTfjsPeer(c.model, c.weights);
//   const g = await tfp.inputGradient(c.tensors.get('x'), c.target);
//   const ms = await timeIt(() => tfp.inputGradient(x, target));
//   tfp.dispose();
//   await releaseNodeWebGPU();                          // optional: lets the process exit at once

import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errText } from './harness.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ORACLE_DIR = join(HERE, '..', 'test', 'fixtures', 'oracle');

/**
 * @typedef {{ shape: number[], data: Float32Array }} HostTensor
 * @typedef {{ input: number[], layers: Array<Record<string, any>> }} ModelSpec
 * @typedef {{
 *   name: string,
 *   backend: string,
 *   forward(x: HostTensor): Promise<Float32Array>,
 *   inputGradient(x: HostTensor, target: number[]): Promise<Float32Array>,
 *   inputHvp(x: HostTensor, v: HostTensor, target: number[]): Promise<Float32Array>,
 *   smoothGrad(x: HostTensor, target: number[], sigma: number, N: number, opts?: { seed?: number }): Promise<Float32Array>,
 *   dispose(): void,
 * }} Peer
 */

// ---------------------------------------------------------------------------------------------------
// Node WebGPU (Dawn) as navigator.gpu
// ---------------------------------------------------------------------------------------------------

/** @type {any} */ let installedGpu = null;
/** @type {any} */ let installedInfo = null;

/**
 * Gets the GPU in Node (Dawn) and installs it as navigator.gpu so tfjs-backend-webgpu and jax-js can find
 * it. Also installs the WebGPU globals (GPUBufferUsage, ...) and, on Node 20 (which has no
 * `navigator`), a minimal `navigator` with `userAgent` and `hardwareConcurrency` (jax-js reads both).
 * Idempotent. Returns adapter info.
 * @param {string[]} [dawnFlags] options for `create()` of the `webgpu` package
 * @returns {Promise<{vendor: string, architecture: string, device: string, description: string}>}
 */
export async function installNodeWebGPU(dawnFlags = []) {
  if (installedGpu) return installedInfo;
  const { create, globals } = await import('webgpu');
  for (const [k, v] of Object.entries(globals)) if (!(k in globalThis)) /** @type {any} */ (globalThis)[k] = v;
  const gpu = create(dawnFlags);
  if (typeof globalThis.navigator === 'undefined') {
    Object.defineProperty(globalThis, 'navigator', {
      value: {
        userAgent: `Node.js/${process.versions.node}`,
        hardwareConcurrency: os.availableParallelism?.() ?? os.cpus().length,
      },
      configurable: true,
      writable: true,
    });
  }
  Object.defineProperty(globalThis.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('installNodeWebGPU: navigator.gpu.requestAdapter() returned null (no WebGPU adapter)');
  const i = adapter.info;
  installedGpu = gpu;
  installedInfo = { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description };
  return installedInfo;
}

/** GPUDevices created by the peers, destroyed by releaseNodeWebGPU(). @type {Set<any>} */
const peerDevices = new Set();

/**
 * Destroys the GPUDevices the peers use and removes navigator.gpu, so that Dawn holds nothing that keeps
 * Node's event loop alive. After this the peers (and tfjs's webgpu backend / jax-js's webgpu device)
 * are unusable in this process.
 */
export async function releaseNodeWebGPU() {
  for (const d of peerDevices) {
    try {
      d.destroy();
    } catch {
      /* already gone */
    }
  }
  peerDevices.clear();
  if (globalThis.navigator && 'gpu' in globalThis.navigator) delete (/** @type {any} */ (globalThis.navigator).gpu);
  installedGpu = null;
  installedInfo = null;
}

// ---------------------------------------------------------------------------------------------------
// Tiny safetensors reader (F32 only; enough for the oracle fixtures)
// ---------------------------------------------------------------------------------------------------

/**
 * @param {Uint8Array} bytes whole file
 * @returns {Map<string, HostTensor>}
 */
export function readSafetensors(bytes) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(dv.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  const base = 8 + headerLen;
  /** @type {Map<string, HostTensor>} */
  const out = new Map();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (t.dtype !== 'F32') throw new Error(`readSafetensors: ${name} has dtype ${t.dtype}, only F32 is supported`);
    const [b, e] = t.data_offsets;
    const n = t.shape.reduce((a, s) => a * s, 1);
    if (e - b !== 4 * n) throw new Error(`readSafetensors: ${name}: ${e - b} bytes for shape [${t.shape}]`);
    // Copy: the data offset need not be 4-byte aligned. (Assumes a little-endian host, as all are.)
    const data = new Float32Array(bytes.slice(base + b, base + e).buffer);
    out.set(name, { shape: t.shape, data });
  }
  return out;
}

/**
 * Loads an oracle case (`NAME.json` + `NAME.safetensors`).
 * @param {string} name e.g. 'lenet', 'mlp'
 * @param {string} [dir]
 */
export async function loadOracleCase(name, dir = ORACLE_DIR) {
  const spec = JSON.parse(await readFile(join(dir, `${name}.json`), 'utf8'));
  const tensors = readSafetensors(new Uint8Array(await readFile(join(dir, `${name}.safetensors`))));
  /** @type {Map<string, HostTensor>} */
  const weights = new Map();
  for (const [k, v] of tensors) if (k.startsWith('param.')) weights.set(k.slice('param.'.length), v);
  return {
    name,
    spec,
    model: /** @type {ModelSpec} */ (spec.model),
    target: /** @type {number[]} */ (spec.target),
    weights,
    tensors,
  };
}

/** Relative L2 error ||a - b|| / ||b||. */
export function relL2(a, b) {
  if (a.length !== b.length) throw new Error(`relL2: length ${a.length} vs ${b.length}`);
  let num = 0,
    den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  return Math.sqrt(num / (den || 1));
}

// ---------------------------------------------------------------------------------------------------
// Model-format helpers
// ---------------------------------------------------------------------------------------------------

/** Shape of each layer's input ([C,H,W] or [N]) and the final output size. */
function inferShapes(spec) {
  let s = spec.input.slice();
  const shapes = [];
  for (const L of spec.layers) {
    shapes.push(s.slice());
    switch (L.type) {
      case 'conv2d': {
        const p = L.padding ?? 0,
          st = L.stride ?? 1,
          k = L.kernel;
        s = [L.out, Math.floor((s[1] + 2 * p - k) / st) + 1, Math.floor((s[2] + 2 * p - k) / st) + 1];
        break;
      }
      case 'maxpool2d':
      case 'avgpool2d': {
        const k = L.kernel,
          st = L.stride ?? L.kernel;
        s = [s[0], Math.floor((s[1] - k) / st) + 1, Math.floor((s[2] - k) / st) + 1];
        break;
      }
      case 'flatten':
        s = [s.reduce((a, b) => a * b, 1)];
        break;
      case 'dense':
        s = [L.out];
        break;
      case 'softplus':
        break;
      default:
        throw new Error(`unknown layer type ${L.type}`);
    }
  }
  return { shapes, out: s };
}

function getW(weights, name, suffix) {
  const t = weights.get(`${name}.${suffix}`);
  if (!t) throw new Error(`missing weight ${name}.${suffix}`);
  return t;
}

/** One-hot [B, n] mask for the objective sum_b logit[b, target[b]]. */
function oneHot(target, n) {
  const m = new Float32Array(target.length * n);
  target.forEach((t, b) => {
    m[b * n + t] = 1;
  });
  return m;
}

function checkBatch(x, target) {
  if (target.length !== x.shape[0]) throw new Error(`target has ${target.length} entries for a batch of ${x.shape[0]}`);
}

// ---------------------------------------------------------------------------------------------------
// TensorFlow.js (webgpu backend)
// ---------------------------------------------------------------------------------------------------

/**
 * TensorFlow.js peer. Activations are NHWC inside (tfjs pooling is NHWC only); the input is transposed
 * from NCHW inside the differentiated function, so gradients come back in NCHW. Conv weights are
 * re-laid out once to [kh,kw,in,out]; a dense layer after an NHWC flatten gets its input rows permuted
 * once so it matches PyTorch's CHW flatten order. Gradient: tf.grad; HVP: tf.grad of <tf.grad(f)(x), v>
 * (reverse-over-reverse, the only nested AD tfjs has).
 *
 * tfjs's own defaults are kept (the benchmark measures the library as shipped); `opts.flags` sets tfjs env
 * flags before the backend starts, e.g. `{ WEBGPU_MATMUL_PROGRAM_TYPE: 3 }` (tfjs's default matmul
 * program choice for small outputs, e.g. [2,784]x[784,64], is ~20x slower than MatMulPackedProgram on
 * SwiftShader). The flags are global to tfjs.
 * @param {ModelSpec} spec
 * @param {Map<string, HostTensor>} weights
 * @param {{ flags?: Record<string, number | boolean | string>, backend?: "webgpu" | "wasm" }} [opts]
 * @returns {Promise<Peer>}
 */
export async function makeTfjsPeer(spec, weights, { flags = {}, backend: want = 'webgpu' } = {}) {
  if (want === 'webgpu' && !globalThis.navigator?.gpu) throw new Error('makeTfjsPeer: call installNodeWebGPU() first');
  const tf = await import('@tensorflow/tfjs');
  // tfjs-backend-webgpu registers its backend at import time only if navigator.gpu exists then.
  if (want === 'webgpu') await import('@tensorflow/tfjs-backend-webgpu');
  // tfjs-backend-wasm 4.22 loads its SIMD binary from its own dist folder in Node (threads are off in Node).
  if (want === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  for (const [k, v] of Object.entries(flags)) tf.env().set(k, v);
  if (!(await tf.setBackend(want))) throw new Error(`tf.setBackend("${want}") failed`);
  await tf.ready();
  const backend = tf.getBackend();
  if (backend !== want) throw new Error(`tfjs backend in use is ${backend}, not ${want}`);
  const be = /** @type {any} */ (tf.backend());
  if (be.device) peerDevices.add(be.device);

  const { shapes, out } = inferShapes(spec);
  const nOut = out[0];
  /** @type {any[]} */ const params = [];
  /** @type {Array<(h: any, st: {layout: string}) => any>} */ const ops = [];
  let pendingPerm = null; // [C,H,W] of an NHWC tensor that was flattened, waiting for the next dense
  spec.layers.forEach((L, i) => {
    const inShape = shapes[i];
    switch (L.type) {
      case 'conv2d': {
        const w = getW(weights, L.name, 'weight'),
          b = getW(weights, L.name, 'bias');
        const [O, I, KH, KW] = w.shape;
        const hwio = new Float32Array(w.data.length);
        for (let o = 0; o < O; o++)
          for (let c = 0; c < I; c++)
            for (let y = 0; y < KH; y++)
              for (let x = 0; x < KW; x++)
                hwio[((y * KW + x) * I + c) * O + o] = w.data[((o * I + c) * KH + y) * KW + x];
        const W = tf.tensor4d(hwio, [KH, KW, I, O]),
          B = tf.tensor1d(b.data);
        params.push(W, B);
        const p = L.padding ?? 0,
          s = L.stride ?? 1;
        /** @type {any} */ const pad =
          p === 0
            ? 'valid'
            : [
                [0, 0],
                [p, p],
                [p, p],
                [0, 0],
              ];
        ops.push((h, st) => {
          if (st.layout === 'NCHW') {
            h = tf.transpose(h, [0, 2, 3, 1]);
            st.layout = 'NHWC';
          }
          return tf.add(tf.conv2d(h, W, s, pad), B);
        });
        break;
      }
      case 'softplus': {
        const beta = L.beta ?? 1;
        ops.push((h) => (beta === 1 ? tf.softplus(h) : tf.div(tf.softplus(tf.mul(h, beta)), beta)));
        break;
      }
      case 'maxpool2d':
      case 'avgpool2d': {
        const k = L.kernel,
          s = L.stride ?? L.kernel,
          f = L.type === 'maxpool2d' ? tf.maxPool : tf.avgPool;
        ops.push((h, st) => {
          if (st.layout === 'NCHW') {
            h = tf.transpose(h, [0, 2, 3, 1]);
            st.layout = 'NHWC';
          }
          return f(h, k, s, 'valid');
        });
        break;
      }
      case 'flatten': {
        // Decided at build time whether the activation is NHWC here (any conv/pool before it).
        const nhwc = spec.layers.slice(0, i).some((l) => ['conv2d', 'maxpool2d', 'avgpool2d'].includes(l.type));
        const [C, H, W] = inShape;
        const nextDense = spec.layers.slice(i + 1).find((l) => l.type !== 'softplus');
        if (nhwc && C > 1 && !(nextDense && nextDense.type === 'dense')) {
          ops.push((h, st) => {
            st.layout = 'flat';
            return tf.reshape(tf.transpose(h, [0, 3, 1, 2]), [h.shape[0], -1]);
          });
        } else {
          if (nhwc && C > 1) pendingPerm = [C, H, W];
          ops.push((h, st) => {
            st.layout = 'flat';
            return tf.reshape(h, [h.shape[0], -1]);
          });
        }
        break;
      }
      case 'dense': {
        const w = getW(weights, L.name, 'weight'),
          b = getW(weights, L.name, 'bias');
        const [O, I] = w.shape;
        // Row r of the [I, O] matrix multiplies input feature r (in the order our activation has).
        const rowOf = new Int32Array(I).map((_, r) => r);
        if (pendingPerm) {
          const [C, H, W] = pendingPerm; // activation order is (h, w, c); PyTorch's is (c, h, w)
          for (let y = 0; y < H; y++)
            for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) rowOf[(y * W + x) * C + c] = (c * H + y) * W + x;
          pendingPerm = null;
        }
        const t = new Float32Array(I * O);
        for (let r = 0; r < I; r++) for (let o = 0; o < O; o++) t[r * O + o] = w.data[o * I + rowOf[r]];
        const Wt = tf.tensor2d(t, [I, O]),
          B = tf.tensor1d(b.data);
        params.push(Wt, B);
        ops.push((h) => tf.add(tf.matMul(h, Wt), B));
        break;
      }
      default:
        throw new Error(`unknown layer type ${L.type}`);
    }
  });

  /** NCHW tensor -> logits [B, nOut] (tf ops; call inside tidy/grad). */
  const model = (x) => {
    const st = { layout: 'NCHW' };
    let h = x;
    for (const op of ops) h = op(h, st);
    return h;
  };
  /** @type {Map<string, any>} */ const masks = new Map();
  const maskFor = (target) => {
    const key = target.join(',');
    let m = masks.get(key);
    if (!m) {
      m = tf.tensor2d(oneHot(target, nOut), [target.length, nOut]);
      masks.set(key, m);
    }
    return m;
  };
  const objective = (mask) => (x) => tf.sum(tf.mul(model(x), mask));
  const read = async (t) => {
    try {
      return /** @type {Float32Array} */ (await t.data());
    } finally {
      t.dispose();
    }
  };
  /**
   * tf.grad leaks when its backward pass throws (e.g. "gradient function not found for MaxPoolGrad"):
   * the engine's tape keeps the tensors it saved for backprop (about 60 per call on LeNet), as
   * engine.gradients() frees them only on success. Free them as it would, then rethrow the same error.
   */
  const inTfGrad = (f) => {
    try {
      return f();
    } catch (e) {
      const st = /** @type {any} */ (tf.engine()).state;
      if (st.gradientDepth === 0 && st.activeTape) {
        for (const node of st.activeTape) for (const t of node.saved ?? []) t.dispose();
        st.activeTape = null;
      }
      throw e;
    }
  };

  return {
    name: 'tfjs',
    backend,
    async forward(x) {
      return read(tf.tidy(() => model(tf.tensor(x.data, x.shape))));
    },
    async inputGradient(x, target) {
      checkBatch(x, target);
      const mask = maskFor(target);
      return read(inTfGrad(() => tf.tidy(() => tf.grad(objective(mask))(tf.tensor(x.data, x.shape)))));
    },
    async inputHvp(x, v, target) {
      checkBatch(x, target);
      const mask = maskFor(target);
      return read(
        inTfGrad(() =>
          tf.tidy(() => {
            const vt = tf.tensor(v.data, v.shape);
            const g = tf.grad(objective(mask));
            return tf.grad((xx) => tf.sum(tf.mul(g(xx), vt)))(tf.tensor(x.data, x.shape));
          }),
        ),
      );
    },
    /**
     * SmoothGrad, tfjs's usual recipe: one batched noisy input of N·B rows (x tiled N times, sample-major,
     * plus tf.randomNormal(0, sigma) noise), tf.grad of the sum of the target logits over all N·B rows,
     * then the mean over the N samples. Everything is materialised at once, so memory grows with N·B.
     * Note: tf.randomNormal is not a kernel in tfjs 4.22; tfjs-core draws the N·B·d values in JavaScript
     * (MPRandGauss) and uploads them, so the noise is made on the CPU. `seed` makes the noise repeatable.
     * `opts.afterGrad(g)` is called with the [N·B, …] gradient tensor before anything is disposed (to
     * snapshot tf.memory() there).
     * @param {HostTensor} x [B, C, H, W]
     * @param {number[]} target
     * @param {number} sigma
     * @param {number} N
     * @param {{ seed?: number, afterGrad?: (g: any) => void }} [opts]
     */
    async smoothGrad(x, target, sigma, N, { seed, afterGrad } = {}) {
      checkBatch(x, target);
      const mask = maskFor(target);
      const B = x.shape[0],
        inner = x.shape.slice(1);
      return read(
        inTfGrad(() =>
          tf.tidy(() => {
            const xt = tf.tensor(x.data, x.shape);
            const noisy = tf.add(
              tf.tile(xt, [N, ...inner.map(() => 1)]),
              tf.randomNormal([N * B, ...inner], 0, sigma, 'float32', seed),
            );
            const g = tf.grad(objective(tf.tile(mask, [N, 1])))(noisy);
            afterGrad?.(g);
            return tf.mean(tf.reshape(g, [N, B, ...inner]), 0);
          }),
        ),
      );
    },
    dispose() {
      for (const p of params) p.dispose();
      for (const m of masks.values()) m.dispose();
      params.length = 0;
      masks.clear();
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// jax-js (webgpu device), eager (no jit)
// ---------------------------------------------------------------------------------------------------

/**
 * jax-js peer, run eagerly (no `jit`). NCHW throughout: `lax.convGeneralDilated` takes [N,C,H,W] inputs
 * and PyTorch-layout [O,I,kh,kw] kernels as is; pooling is `lax.reduceWindow` with np.max / np.mean over
 * each window. Gradient: `grad`; HVP: `jvp(grad(f), [x], [v])` (forward-over-reverse).
 *
 * jax-js arrays are reference counted and every op consumes its array arguments, so the closed-over
 * parameters are passed as `p.ref`, and each call's inputs are created fresh and consumed.
 * Sets jax-js's global default device to 'webgpu' (some internal arrays, e.g. AD seeds, are created on
 * the default device).
 *
 * Known upstream leak (jax-js 0.1.25): the JVP rule of `reciprocal` does `reciprocal(x.ref)` and never
 * consumes `x`, so every reciprocal that a jvp (or the linearize inside grad-of-grad) differentiates
 * through leaks one GPU buffer the size of its input. Softplus's and max-reduce's derivatives contain a
 * reciprocal, so `inputHvp` leaks one buffer per softplus layer and per max-pool layer per call (LeNet:
 * 3, the MLP: 1). forward and inputGradient do not leak.
 * @param {ModelSpec} spec
 * @param {Map<string, HostTensor>} weights
 * @returns {Promise<Peer>}
 */
export async function makeJaxPeer(spec, weights) {
  if (!globalThis.navigator?.gpu) throw new Error('makeJaxPeer: call installNodeWebGPU() first');
  const jax = await import('@jax-js/jax');
  const { numpy: np, lax, nn } = jax;
  const devs = await jax.init('webgpu');
  if (!devs.includes('webgpu'))
    throw new Error(`jax-js could not start its webgpu device (devices: ${devs.join(', ')})`);
  jax.defaultDevice('webgpu');
  const device = 'webgpu';
  peerDevices.add(jax.getWebGPUDevice());

  const { out } = inferShapes(spec);
  const nOut = out[0];
  const arr = (data, shape) => np.array(data, { shape, device });
  /** @type {any[]} */ const params = [];
  /** @type {Array<(h: any) => any>} */ const ops = [];
  for (const L of spec.layers) {
    switch (L.type) {
      case 'conv2d': {
        const w = getW(weights, L.name, 'weight'),
          b = getW(weights, L.name, 'bias');
        const W = arr(w.data, w.shape),
          B = arr(b.data, [b.shape[0], 1, 1]);
        params.push(W, B);
        const p = L.padding ?? 0,
          s = L.stride ?? 1;
        /** @type {any} */ const pad =
          p === 0
            ? 'VALID'
            : [
                [p, p],
                [p, p],
              ];
        ops.push((h) => lax.convGeneralDilated(h, W.ref, [s, s], pad).add(B.ref));
        break;
      }
      case 'softplus': {
        const beta = L.beta ?? 1;
        ops.push((h) => (beta === 1 ? nn.softplus(h) : nn.softplus(h.mul(beta)).div(beta)));
        break;
      }
      case 'maxpool2d':
      case 'avgpool2d': {
        const k = L.kernel,
          s = L.stride ?? L.kernel;
        const reduce = L.type === 'maxpool2d' ? (win) => np.max(win) : (win) => np.mean(win);
        ops.push((h) => lax.reduceWindow(h, reduce, [k, k], [s, s]));
        break;
      }
      case 'flatten':
        ops.push((h) => h.reshape([h.shape[0], h.size / h.shape[0]]));
        break;
      case 'dense': {
        const w = getW(weights, L.name, 'weight'),
          b = getW(weights, L.name, 'bias');
        const [O, I] = w.shape;
        const t = new Float32Array(I * O);
        for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) t[i * O + o] = w.data[o * I + i];
        const Wt = arr(t, [I, O]),
          B = arr(b.data, [O]);
        params.push(Wt, B);
        ops.push((h) => np.matmul(h, Wt.ref).add(B.ref));
        break;
      }
      default:
        throw new Error(`unknown layer type ${L.type}`);
    }
  }
  /** Consumes x [B,C,H,W]; returns logits [B, nOut]. */
  const model = (x) => {
    let h = x;
    for (const op of ops) h = op(h);
    return h;
  };
  /** Objective sum_b logit[b, target[b]]; consumes x, not the mask. */
  const objective = (mask) => (x) => np.sum(model(x).mul(mask.ref));
  const read = async (a) => {
    if (a.device !== device) {
      a.dispose();
      throw new Error(`jax-js result is on ${a.device}, not ${device}`);
    }
    return /** @type {Float32Array} */ (await a.data()); // data() consumes a
  };

  return {
    name: 'jax-js',
    backend: device,
    async forward(x) {
      return read(model(arr(x.data, x.shape)));
    },
    async inputGradient(x, target) {
      checkBatch(x, target);
      const mask = arr(oneHot(target, nOut), [target.length, nOut]);
      try {
        return await read(jax.grad(objective(mask))(arr(x.data, x.shape)));
      } finally {
        mask.dispose();
      }
    },
    async inputHvp(x, v, target) {
      checkBatch(x, target);
      const mask = arr(oneHot(target, nOut), [target.length, nOut]);
      try {
        const [g, hv] = jax.jvp(jax.grad(objective(mask)), [arr(x.data, x.shape)], [arr(v.data, v.shape)]);
        g.dispose();
        return await read(hv);
      } finally {
        mask.dispose();
      }
    },
    /**
     * SmoothGrad. Noise [N, B, C, H, W] from jax.random.normal (threefry bits and Box–Muller, on the
     * device) times sigma is added to x (broadcast over N); then either
     *  - mode 'vmap' (default, the JAX idiom): vmap(grad(objective)) over the leading sample axis, or
     *  - mode 'batched': one grad of the summed objective over all N·B rows ([N·B, C, H, W], mask tiled),
     *    as tfjs does it (jax-js 0.1.25 has no vmap rule for `pool`, which reduceWindow uses, so 'vmap'
     *    fails on models with pooling; 'batched' computes the same thing without vmap),
     * and the mean over the N samples. All N·B gradients are materialised at once, so memory grows with
     * N·B. `seed` picks the PRNG key.
     * @param {HostTensor} x
     * @param {number[]} target
     * @param {number} sigma
     * @param {number} N
     * @param {{ seed?: number, mode?: 'vmap' | 'batched' }} [opts]
     */
    async smoothGrad(x, target, sigma, N, { seed = 0, mode = 'vmap' } = {}) {
      checkBatch(x, target);
      const B = x.shape[0],
        inner = x.shape.slice(1);
      const mask = arr(oneHot(target, nOut), [B, nOut]);
      try {
        // Every op consumes its arguments: the key by normal, noise and x by add, noisy by the grad.
        const noise = jax.random.normal(jax.random.key(seed), [N, ...x.shape]).mul(sigma);
        const noisy = noise.add(arr(x.data, x.shape));
        if (mode === 'vmap') {
          const g = jax.vmap(jax.grad(objective(mask)))(noisy); // [N, B, C, H, W]
          return await read(np.mean(g, 0));
        }
        if (mode !== 'batched') throw new Error(`smoothGrad: unknown mode ${mode}`);
        const tiled = np.tile(mask.ref, [N, 1]);
        try {
          const g = jax.grad(objective(tiled))(noisy.reshape([N * B, ...inner])); // [N·B, C, H, W]
          return await read(np.mean(g.reshape([N, B, ...inner]), 0));
        } finally {
          tiled.dispose();
        }
      } finally {
        mask.dispose();
      }
    },
    dispose() {
      for (const p of params) p.dispose();
      params.length = 0;
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------------------------------

// timeIt lives in the bench harness; re-exported for the scripts that took it from here.
export { timeIt } from './harness.mjs';

/**
 * Both peers on one model, each either ready or `{ error }` with the one-line reason it could not be built
 * (so a bench table shows the failure in its column instead of stopping).
 * @param {any} spec
 * @param {any} weights
 * @returns {Promise<Record<string, any>>}
 */
export async function makePeers(spec, weights) {
  /** @type {Record<string, any>} */
  const peers = {};
  for (const [lib, make] of /** @type {[string, typeof makeTfjsPeer][]} */ ([
    ['tfjs', makeTfjsPeer],
    ['jax-js', makeJaxPeer],
  ])) {
    try {
      peers[lib] = await make(spec, weights);
    } catch (e) {
      peers[lib] = { error: errText(e) };
    }
  }
  return peers;
}
