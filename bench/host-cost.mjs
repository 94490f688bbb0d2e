// Host cost of recording: dispatches per call for each model and method, host µs per call (encoding, measured
// apart from the GPU wait) and per cached dispatch, next to the numbers recorded on the code before the
// WebGPU-layer rework (bench/baseline-host.json, written by --save-baseline on that commit).
//
//   npm run bench:host [-- --quick] [-- --json FILE] [-- --save-baseline]
//
// Host times are the best of several runs: on a shared machine other processes only ever add time.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, finish, importInternal, log, parseBenchArgs, ROOT, table, writeReport } from './harness.mjs';
import { loadOracleCase, ORACLE_DIR } from './peers.mjs';

const { values: opts } = parseBenchArgs('bench/host-cost.mjs', {
  quick: { type: 'boolean', default: false },
  json: { type: 'string' },
  'save-baseline': { type: 'boolean', default: false },
});
const quick = opts.quick;
const BASELINE = join(BENCH_DIR, 'baseline-host.json');
const before = existsSync(BASELINE) ? JSON.parse(readFileSync(BASELINE, 'utf8')) : null;

const host = await importInternal('host');
const engine = await host.createEngine({ backend: 'webgpu' });
log(`adapter: ${engine.describe()}`);
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
const result = { commit, date: new Date().toISOString(), adapter: engine.adapter, dispatch: [], models: [] };

result.dispatch = await host.dispatchCosts(engine, 25, quick ? 10 : 40);
for (const name of ['lenet', 'mlp']) {
  const c = await loadOracleCase(name);
  const model = await host.loadModel(engine, c.spec.model, readFileSync(join(ORACLE_DIR, `${name}.safetensors`)), {
    prefix: 'param.',
  });
  const x0 = c.tensors.get('x'),
    v0 = c.tensors.get('v');
  const per = x0.data.length / x0.shape[0];
  const x = { shape: [1, ...x0.shape.slice(1)], data: x0.data.slice(0, per) };
  const v = { shape: [1, ...v0.shape.slice(1)], data: v0.data.slice(0, per) };
  const costs = await host.modelCosts(model, x, v, [c.target[0]], quick ? 8 : 50, quick ? 5 : 15);
  for (const k of costs) result.models.push({ model: name, batch: 1, ...k });
}
engine.dispose();

const was = before ? `before (${before.commit})` : 'before';
const us = (x) => (x == null ? '-' : x.toFixed(1));
log(`\n== host µs per cached dispatch (best block of 25 back-to-back dispatches; WebGPU calls = Dawn's own host work)`);
log(
  table(
    ['kernel', `${was} total`, 'own', 'now total', 'WebGPU calls', 'own'],
    result.dispatch.map((d) => {
      const b = before?.dispatch.find((e) => e.kernel === d.kernel);
      return [d.kernel, us(b?.us), us(b?.ownUs), us(d.us), us(d.webgpuUs), us(d.ownUs)];
    }),
  ),
);
log(`\n== per call, batch 1: dispatches and host µs recording it (call start → submit), best of the runs`);
log(
  table(
    ['model', 'call', `dispatches ${was}`, 'now', 'encoding µs before', 'now', 'µs/dispatch now'],
    result.models.map((m) => {
      const b = before?.models.find((e) => e.model === m.model && e.method === m.method);
      return [
        m.model,
        m.method,
        b?.dispatches ?? '-',
        m.dispatches,
        us(b?.encodeUs),
        us(m.encodeUs),
        us(m.encodeUsPerDispatch),
      ];
    }),
    2,
  ),
);
if (opts['save-baseline']) writeFileSync(BASELINE, JSON.stringify(result, null, 2) + '\n');
writeReport(opts.json, result);
finish(0);
