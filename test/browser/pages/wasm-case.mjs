// The oracle case on the wasm backend of the browser bundle, shared by wasm.html (the page's main thread)
// and wasm-worker.mjs (a dedicated worker, where Atomics.wait is allowed and the thread pool can run).
import { createEngine, loadModel, parseSafetensors, smoothGrad } from '/dist/smoothgeo.browser.mjs';

export async function runWasmCase(name, threads) {
  const engine = await createEngine({ backend: 'wasm', threads });
  const spec = await (await fetch(`/test/fixtures/oracle/${name}.json`)).json();
  const bytes = new Uint8Array(await (await fetch(`/test/fixtures/oracle/${name}.safetensors`)).arrayBuffer());
  const model = await loadModel(engine, spec.model, bytes, { prefix: 'param.' });
  const t = parseSafetensors(bytes).tensors;
  const x = t.get('x'),
    v = t.get('v');
  const logit = { kind: 'logit', target: spec.target };
  const ce = { kind: 'crossEntropy', labels: spec.labels };
  const out = {
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    backend: engine.backend,
    describe: engine.describe(),
    logits: (await model.forward(x)).data,
    grad_logit: (await model.inputGradient(x, logit)).data,
    hvp_logit: (await model.inputHvp(x, v, logit)).data,
    hvp_ce: (await model.inputHvp(x, v, ce)).data,
    smoothgrad_given_noise: (await smoothGrad(model, x, { target: spec.target, noise: t.get('sg_noise') })).attributions
      .data,
  };
  engine.dispose();
  return Object.fromEntries(
    Object.entries(out).map(([k, val]) => [k, val instanceof Float32Array ? Array.from(val) : val]),
  );
}
