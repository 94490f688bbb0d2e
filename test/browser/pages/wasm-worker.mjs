// Runs the wasm oracle case in a dedicated worker and posts the result (or the error) back to wasm.html.
import { runWasmCase } from './wasm-case.mjs';

self.onmessage = async (e) => {
  try {
    self.postMessage(await runWasmCase(e.data.name, e.data.threads));
  } catch (err) {
    self.postMessage({ error: `${err.name}: ${err.message}` });
  }
};
