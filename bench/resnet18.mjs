// ResNet-18 (torchvision's architecture and parameter names: conv1, bn1, layer1.0.conv1, …, fc) at
// 1×3×224×224 with random weights: forward, input gradient, input HVP and SmoothGrad with 16 samples, on the
// default engine, SmoothGrad within a 256 MiB activation budget (maxBytes). Prints each call's time (one
// warm-up call first; the median of --repeats) and the engine's peak GPU memory (engine.memory().peakBytes
// after resetPeakMemory(): buffers its pool holds, weights included) per call. The same rows are part of
// `npm run bench` (bench/run.mjs); this script runs them alone (bench/resnet18-rows.mjs).
//   node build.mjs && node scripts/gpu-env.mjs node bench/resnet18.mjs [--cpu] [--repeats 1] [--size 224]
//     [--only forward,gradient,hvp,smoothgrad] [--warmup yes|no]
import { parseArgs } from 'node:util';
import { importSmoothgeo } from './harness.mjs';
import { resnet18Rows } from './resnet18-rows.mjs';

const sg = await importSmoothgeo();

const { values: args } = parseArgs({
  options: {
    cpu: { type: 'boolean', default: false },
    repeats: { type: 'string', default: '1' },
    size: { type: 'string', default: '224' },
    // Which rows (forward,gradient,hvp,smoothgrad) and whether each gets an untimed warm-up call first.
    only: { type: 'string', default: 'forward,gradient,hvp,smoothgrad' },
    warmup: { type: 'string', default: 'yes' },
  },
});

const engine = await sg.createEngine({ backend: args.cpu ? 'cpu' : 'auto' });
console.log(`engine: ${engine.describe()}`);
await resnet18Rows(sg, engine, {
  size: Number(args.size),
  repeats: Number(args.repeats),
  only: args.only.split(','),
  warmup: args.warmup === 'yes',
  log: (s) => console.log(s),
});
engine.dispose();
