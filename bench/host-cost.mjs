// Host cost of recording: dispatches per call for each model and method, host µs per call (encoding, apart from
// the GPU wait) and per cached dispatch. Compares with the numbers recorded before the WebGPU-layer rework
// (bench/baseline-host.json) when they exist.
//
//   npm run bench:host [-- --quick] [-- --json FILE] [-- --save-baseline]
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const saveBaseline = args.includes('--save-baseline');

const out = join(ROOT, 'dist', 'bench-host.mjs');
await build({
  entryPoints: [join(HERE, 'host.ts')], bundle: true, platform: 'node', format: 'esm', target: 'es2022',
  loader: { '.wgsl': 'text' }, external: ['webgpu'], outfile: out, logLevel: 'warning',
});
const host = await import(pathToFileURL(out).href);
const { loadOracleCase, ORACLE_DIR } = await import('./peers.mjs');

const engine = await host.createEngine({ backend: 'webgpu' });
console.log(`adapter: ${engine.describe()}`);
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
const result = { commit, date: new Date().toISOString(), adapter: engine.adapter, dispatch: [], models: [] };

for (const d of await host.dispatchCosts(engine, 25, quick ? 10 : 40)) {
  result.dispatch.push(d);
  console.log(`cached dispatch  ${d.kernel.padEnd(32)} ${d.us.toFixed(2).padStart(7)} µs host, of which ${d.webgpuUs.toFixed(2)} µs in WebGPU calls, ${d.ownUs.toFixed(2)} µs smoothgeo's own`);
}
for (const name of ['lenet', 'mlp']) {
  const c = await loadOracleCase(name);
  const model = await host.loadModel(engine, c.spec.model, readFileSync(join(ORACLE_DIR, `${name}.safetensors`)), { prefix: 'param.' });
  const x0 = c.tensors.get('x'), v0 = c.tensors.get('v');
  const per = x0.data.length / x0.shape[0];
  const x = { shape: [1, ...x0.shape.slice(1)], data: x0.data.slice(0, per) };
  const v = { shape: [1, ...v0.shape.slice(1)], data: v0.data.slice(0, per) };
  const costs = await host.modelCosts(model, x, v, [c.target[0]], quick ? 8 : 50, quick ? 5 : 15);
  console.log(`\n${name} batch 1`);
  for (const k of costs) {
    result.models.push({ model: name, batch: 1, ...k });
    console.log(`  ${k.method.padEnd(20)} ${String(k.dispatches).padStart(4)} dispatches  ${k.encodeUs.toFixed(0).padStart(6)} µs encoding ` +
      `(${k.encodeUsPerDispatch.toFixed(2)} µs/dispatch)  ${(k.wallUs / 1000).toFixed(2).padStart(7)} ms wall`);
  }
}
engine.dispose();
if (saveBaseline) writeFileSync(join(HERE, 'baseline-host.json'), JSON.stringify(result, null, 2) + '\n');
const jsonAt = args.indexOf('--json');
if (jsonAt >= 0) writeFileSync(args[jsonAt + 1], JSON.stringify(result, null, 2) + '\n');
setTimeout(() => process.exit(0), 1000).unref();
