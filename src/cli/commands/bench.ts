import { Command } from 'commander';
import { smoothGrad } from '../../attribution/methods.js';
import type { Objective } from '../../graph/objective.js';
import type { Tensor } from '../../tensor.js';
import { emit, engineFor, intArg, listArg, VERSION, THREADS_HELP } from '../common.js';
import { loadCliModel } from '../load.js';
import { cliProgressBar } from '../progress.js';

/** Median wall time of `fn` over `reps` calls after one untimed warm-up call (shader compilation). */
async function medianMs(fn: () => Promise<unknown>, reps: number): Promise<number> {
  await fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t.length % 2 ? t[(t.length - 1) / 2] : (t[t.length / 2 - 1] + t[t.length / 2]) / 2;
}

/**
 * `smoothgeo bench`: the library's own timings on this machine — forward, input gradient, input HVP and
 * SmoothGrad of a model at each batch size, median of wall times with the upload and readback of each call.
 * The comparisons with TensorFlow.js and jax-js are `npm run bench` in the repository (dev dependencies).
 */
export function benchCommand(): Command {
  return new Command('bench')
    .description('time forward, gradient, Hessian-vector product and SmoothGrad of a model on this machine')
    .option('--model <nat|ssr|madry|spec.json>', 'a shipped LeNet or a model spec', 'nat')
    .option('--weights <file.safetensors>', 'the weights of a --model spec')
    .option('--batch <sizes>', 'batch sizes', listArg('--batch', intArg('batch size', 1)), [1, 8])
    .option('--samples <n>', 'SmoothGrad samples per example', intArg('--samples', 1), 16)
    .option('--reps <n>', 'timed calls per measurement (after one warm-up)', intArg('--reps', 1), 5)
    .option('--backend <name>', 'auto, webgpu, wasm or cpu', 'auto')
    .option('--threads <n>', THREADS_HELP, intArg('--threads', 1))
    .option('--json', 'print one JSON object on stdout instead of text')
    .option('--no-progress', 'no progress bar (it is off anyway when stderr is not a terminal)')
    .option('--verbose', 'print the stack trace of an error')
    .addHelpText('after', '\nExample:\n  smoothgeo bench --model nat --batch 1,32 --reps 10')
    .action(async (o) => {
      const engine = await engineFor(o);
      const bar = cliProgressBar(o.progress, 'bench', 4 * (o.batch as number[]).length);
      bar.stage('loading the model');
      try {
        const { model, name } = await loadCliModel(engine, o.model, o.weights);
        const d = model.inputShape.reduce((a, n) => a * n, 1);
        const rows: { batch: number; forwardMs: number; gradientMs: number; hvpMs: number; smoothGradMs: number }[] =
          [];
        for (const B of o.batch as number[]) {
          // Deterministic inputs in [0, 1): the timings do not depend on the values.
          const x: Tensor = {
            shape: [B, ...model.inputShape],
            data: new Float32Array(B * d).map((_, i) => (i * 0.618) % 1),
          };
          const target = Array.from({ length: B }, (_, b) => b % model.classes);
          const objective: Objective = { kind: 'logit', target };
          const v: Tensor = { shape: x.shape, data: new Float32Array(B * d).fill(1 / Math.sqrt(d)) };
          const timed = async (stage: string, fn: () => Promise<unknown>) => {
            bar.stage(`batch ${B}: ${stage}`);
            const ms = await medianMs(fn, o.reps);
            bar.tick();
            return ms;
          };
          rows.push({
            batch: B,
            forwardMs: await timed('forward', () => model.forward(x)),
            gradientMs: await timed('gradient', () => model.inputGradient(x, objective)),
            hvpMs: await timed('HVP', () => model.inputHvp(x, v, objective)),
            smoothGradMs: await timed('SmoothGrad', () =>
              smoothGrad(model, x, { target, sigma: 0.15, samples: o.samples, seed: 1 }),
            ),
          });
        }
        bar.stop();
        const record = {
          version: VERSION,
          backend: engine.describe(),
          model: name,
          samples: o.samples,
          reps: o.reps,
          rows,
        };
        emit(o.json, record, () => [
          `engine: ${engine.describe()}`,
          `model ${name}; median of ${o.reps} calls after a warm-up; SmoothGrad with ${o.samples} samples per example`,
          'batch  forward ms  gradient ms  HVP ms  SmoothGrad ms',
          ...rows.map(
            (r) =>
              `${String(r.batch).padStart(5)}  ${r.forwardMs.toFixed(2).padStart(10)}  ${r.gradientMs.toFixed(2).padStart(11)}  ${r.hvpMs.toFixed(2).padStart(6)}  ${r.smoothGradMs.toFixed(2).padStart(13)}`,
          ),
        ]);
      } finally {
        bar.stop();
        engine.dispose();
      }
    });
}
