// Self-test of bench/peers.mjs: builds the TensorFlow.js and jax-js peers for each oracle case at its batch,
// checks forward / input gradient / input HVP against the PyTorch float64 oracle (relative L2 error), and
// times each method with timeIt. A method that the peer cannot run prints the peer's own error.
//
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp node bench/peers-selftest.mjs
//   (or: node scripts/gpu-env.mjs node bench/peers-selftest.mjs)
// Options: --cases lenet,mlp  --peers tfjs,jax  --min-ms 500  --no-time
//          --tf-flags '{"WEBGPU_MATMUL_PROGRAM_TYPE":3}'  (tfjs env flags; default: tfjs's own defaults)
import {
  installNodeWebGPU,
  releaseNodeWebGPU,
  loadOracleCase,
  makeTfjsPeer,
  makeJaxPeer,
  relL2,
  timeIt,
} from './peers.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const cases = opt('cases', 'lenet,mlp').split(',');
const peerNames = opt('peers', 'tfjs,jax').split(',');
const minMs = Number(opt('min-ms', '500'));
const doTime = !args.includes('--no-time');
const tfFlags = JSON.parse(opt('tf-flags', '{}'));
const TOL = 1e-4; // the oracle README's tolerance for float32 logits / gradients / HVPs

const info = await installNodeWebGPU();
console.log(`adapter: ${info.vendor} / ${info.architecture} / ${info.description}`);
const makers = { tfjs: (m, w) => makeTfjsPeer(m, w, { flags: tfFlags }), jax: makeJaxPeer };
let failures = 0;

for (const name of cases) {
  const c = await loadOracleCase(name);
  const x = c.tensors.get('x'),
    v = c.tensors.get('v');
  console.log(`\n== ${name} (batch ${x.shape[0]}, input [${x.shape.slice(1)}], target [${c.target}])`);
  for (const pn of peerNames) {
    const peer = await makers[pn](c.model, c.weights);
    console.log(`-- ${peer.name}: backend=${peer.backend}`);
    /** @type {[string, () => Promise<Float32Array>, string][]} */
    const checks = [
      ['forward', () => peer.forward(x), 'logits'],
      ['grad', () => peer.inputGradient(x, c.target), 'grad_logit'],
      ['hvp', () => peer.inputHvp(x, v, c.target), 'hvp_logit'],
    ];
    for (const [what, fn, ref] of checks) {
      let line = `   ${what.padEnd(8)}`;
      try {
        const t0 = performance.now();
        const got = await fn();
        const first = performance.now() - t0;
        const err = relL2(got, c.tensors.get(ref).data);
        line += ` relL2=${err.toExponential(2)}${err <= TOL ? '' : '  (ABOVE 1e-4)'}  first call ${first.toFixed(0)} ms`;
        if (err > TOL) failures++;
        if (doTime) line += `  median ${(await timeIt(fn, { warmup: 1, minRuns: 3, minMs })).toFixed(1)} ms`;
      } catch (e) {
        line += ` FAILS: ${e?.constructor?.name ?? 'Error'}: ${e?.message ?? e}`;
      }
      console.log(line);
    }
    peer.dispose();
  }
}
await releaseNodeWebGPU();
console.log(`\ndone${failures ? ` (${failures} results above tolerance)` : ''}`);
