import { it } from 'vitest';
import { loadModel } from '../src/graph/model.js';
import { hessianEigen, hessianTrace, hessianDensity } from '../src/curvature/index.js';
import { cpuEngine, oracleCases } from './helpers.js';
it('exp', async () => {
  for (const c of oracleCases()) {
    const model = await loadModel(await cpuEngine(), c.json.model, c.bytes, { prefix: 'param.' });
    const x = c.tensors.get('x')!;
    const ce = { kind: 'crossEntropy' as const, labels: c.json.labels };
    const want = c.json.hessian_ce;
    for (const [which, k] of [['largest', 1], ['smallest', 1], ['magnitude', 3]] as const) {
      for (const tol of [1e-3, 1e-4, 1e-5]) {
      const t = performance.now();
      const r = await hessianEigen(model, x, ce, { k, which, seed: 1, tol });
      console.log(c.name, which, tol, JSON.stringify(r.values), r.iterations, r.converged, (performance.now() - t).toFixed(0), 'ms');
      }
    }
    console.log(JSON.stringify(want));
    let t = performance.now();
    const tr = await hessianTrace(model, x, ce, { method: 'exact' });
    console.log('exact', tr.values, (performance.now() - t).toFixed(0));
    t = performance.now();
    const h = await hessianTrace(model, x, ce, { samples: 64, seed: 3 });
    console.log('hutch', h.values, h.stderr, (performance.now() - t).toFixed(0));
    const hp = await hessianTrace(model, x, ce, { samples: 64, seed: 3, method: 'hutch++' });
    console.log('hutch++', hp.values, hp.stderr, hp.matvecs);
    const gn = await hessianEigen(model, x, ce, { gaussNewton: true, seed: 2 });
    console.log('gn', gn.values, gn.iterations, c.json.gn_lambda_max);
    const p = await hessianEigen(model, x, ce, { method: 'power', seed: 2 });
    console.log('power', p.values, p.iterations);
    const dn = await hessianDensity(model, x, ce, { seed: 2 });
    console.log('density', dn.values.map((v) => [v.weights.reduce((a, b) => a + b, 0), v.nodes.reduce((a, n, i) => a + n * v.weights[i], 0) * 784, Math.min(...v.nodes), Math.max(...v.nodes)]), dn.steps);
  }
}, 600000);
