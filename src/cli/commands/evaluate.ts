import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { robustAccuracy } from '../../attack/robust.js';
import { loadMnist } from '../../data/mnist.js';
import { fail } from '../../errors.js';
import { commandLine, emit, engineFor, intArg, numArg, THREADS_HELP, VERSION } from '../common.js';
import { loadCliModel } from '../load.js';
import { cliProgressBar } from '../progress.js';

/**
 * `smoothgeo evaluate`: clean and PGD-robust accuracy of a model on the MNIST test digits (the split its
 * training used). The attack is Madry et al.'s MNIST evaluation: L∞ ε = 0.3, 40 steps of 0.01, random start.
 */
export function evaluateCommand(): Command {
  return new Command('evaluate')
    .description('clean and L∞ PGD (robust) accuracy of a model on the 2,000 MNIST test digits')
    .option('--model <nat|ssr|madry|spec.json|model.onnx>', 'a shipped LeNet, a model spec, or an ONNX file', 'nat')
    .option('--weights <file.safetensors>', 'the weights of a --model spec')
    .option(
      '--split-seed <n>',
      'seed of the MNIST split (default: the shipped model’s training split, else 1)',
      intArg('--split-seed'),
    )
    .option('--digits <n>', 'evaluate the first n test digits (default: all)', intArg('--digits', 1))
    .option('--epsilon <e>', 'L∞ radius of the PGD attack', numArg('--epsilon', 0), 0.3)
    .option('--step <s>', 'PGD step size', numArg('--step', 0), 0.01)
    .option('--iterations <n>', 'PGD steps (0: clean accuracy only)', intArg('--iterations', 0), 40)
    .option('--no-random-start', 'start PGD at the clean digit instead of a uniform point of the ε-box')
    .option('--seed <n>', 'seed of the random starts', intArg('--seed'), 1)
    .option('--batch-size <n>', 'digits per batch of input gradients', intArg('--batch-size', 1), 250)
    .option(
      '--record <file.json>',
      'also store the result under "robustAccuracy" in this JSON record (e.g. a training record)',
    )
    .option('--backend <name>', 'auto, webgpu, wasm or cpu', 'auto')
    .option('--threads <n>', THREADS_HELP, intArg('--threads', 1))
    .option('--json', 'print one JSON object on stdout instead of text')
    .option('--no-progress', 'no progress bar (it is off anyway when stderr is not a terminal)')
    .option('--verbose', 'print the stack trace of an error')
    .addHelpText(
      'after',
      '\nExample:\n  smoothgeo evaluate --model madry --epsilon 0.3 --step 0.01 --iterations 40 --record examples/models/lenet-madry.json',
    )
    .action(async (o, cmd: Command) => {
      if (o.record !== undefined && !existsSync(o.record))
        fail('INVALID_ARGUMENT', `--record: no such file '${o.record}' (it adds to an existing JSON record)`);
      const engine = await engineFor(o);
      try {
        const { model, name, splitSeed } = await loadCliModel(engine, o.model, o.weights);
        if (model.inputShape.join() !== '1,28,28' || model.classes !== 10)
          fail(
            'INVALID_ARGUMENT',
            `--model ${o.model} takes [${model.inputShape.join(', ')}] inputs and gives ${model.classes} classes; MNIST digits need [1, 28, 28] and 10`,
          );
        const split = o.splitSeed ?? splitSeed ?? 1;
        const { test } = await loadMnist({ seed: split });
        const n = Math.min(o.digits ?? test.labels.length, test.labels.length);
        const x = { shape: [n, 1, 28, 28], data: test.x.data.subarray(0, n * 784) };
        const bar = cliProgressBar(o.progress, 'evaluate', n);
        const t0 = performance.now();
        let done = 0;
        const r = await robustAccuracy(model, x, {
          labels: test.labels.slice(0, n),
          epsilon: o.epsilon,
          stepSize: o.step,
          iterations: o.iterations,
          randomStart: o.randomStart,
          seed: o.seed,
          batchSize: o.batchSize,
          onBatch: (k) => {
            bar.tick(`${k} of ${n} digits`, k - done);
            done = k;
          },
        }).finally(() => bar.stop());
        const seconds = (performance.now() - t0) / 1000;
        const result = {
          command: commandLine(cmd),
          version: VERSION,
          backend: engine.backend,
          model: name,
          splitSeed: split,
          digits: n,
          attack: {
            norm: 'linf',
            epsilon: o.epsilon,
            step: o.step,
            iterations: o.iterations,
            randomStart: o.randomStart,
            seed: o.seed,
          },
          accuracy: r.accuracy,
          robustAccuracy: r.robustAccuracy,
          seconds,
        };
        if (o.record !== undefined) {
          let rec: Record<string, unknown>;
          try {
            rec = JSON.parse(readFileSync(o.record, 'utf8'));
          } catch (e) {
            return fail('INVALID_ARGUMENT', `--record ${o.record} is not JSON: ${(e as Error).message}`);
          }
          const { command, version, backend, splitSeed: s, digits, attack, accuracy, robustAccuracy: ra } = result;
          rec.robustAccuracy = {
            command,
            version,
            backend,
            splitSeed: s,
            digits,
            attack,
            accuracy,
            robustAccuracy: ra,
          };
          writeFileSync(o.record, JSON.stringify(rec, null, 2) + '\n');
        }
        const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
        emit(o.json, result, () => [
          `${name} on ${n} test digits: clean accuracy ${pct(r.accuracy)}; at the L∞ PGD adversary (ε = ${o.epsilon}, ${o.iterations} steps of ${o.step}${o.randomStart ? ', random start' : ''}, seed ${o.seed}) ${pct(r.robustAccuracy)}; ${seconds.toFixed(1)} s${o.record ? `; added to ${o.record}` : ''}`,
        ]);
      } finally {
        engine.dispose();
      }
    });
}
