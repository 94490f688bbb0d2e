import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { densityPlotPng, hessianDensity } from '../../curvature/density.js';
import { hessianEigen } from '../../curvature/eigen.js';
import { hessianTrace } from '../../curvature/trace.js';
import type { Objective } from '../../graph/objective.js';
import { emit, engineFor, intArg, modelCommandOptions, predictions, VERSION } from '../common.js';
import { loadCliModel, loadInputs } from '../load.js';
import { cliProgressBar } from '../progress.js';

/**
 * `smoothgeo curvature`: the input Hessian's extreme eigenvalues, top-k, trace and spectral density at each
 * input. A ReLU network's own input Hessian is zero almost everywhere, so the default is the Gauss–Newton
 * Hessian of the cross-entropy (the curvature SSR penalises); `--hessian exact` takes the true one.
 */
export function curvatureCommand(): Command {
  const cmd = new Command('curvature').description(
    'curvature of the model at its inputs: λ_max, λ_min, top-k eigenvalues, trace and spectral density (PNG plot)',
  );
  modelCommandOptions(cmd);
  return cmd
    .addOption(
      new Option('--objective <kind>', 'the function differentiated (crossEntropy uses the predicted class as label)')
        .choices(['crossEntropy', 'logit', 'probability'])
        .default('crossEntropy'),
    )
    .addOption(
      new Option('--hessian <kind>', 'gauss-newton (needs crossEntropy) or the exact Hessian')
        .choices(['gauss-newton', 'exact'])
        .default('gauss-newton'),
    )
    .option('--k <n>', 'top-k eigenvalues by magnitude', intArg('--k', 1), 3)
    .option(
      '--lanczos-steps <n>',
      'most Lanczos steps of each eigenvalue call (default: the library’s)',
      intArg('--lanczos-steps', 1),
    )
    .option('--trace-samples <n>', 'Hutchinson probes of the trace', intArg('--trace-samples', 2), 32)
    .option('--density-probes <n>', 'probes of the spectral density', intArg('--density-probes', 1), 4)
    .option('--density-steps <n>', 'Lanczos steps per density probe', intArg('--density-steps', 1), 32)
    .option('--seed <n>', 'seed of the random vectors', intArg('--seed'), 1)
    .option('--out <dir>', 'folder for the density plots and curvature.json', 'smoothgeo-out')
    .addHelpText('after', '\nExample:\n  smoothgeo curvature --model ssr --mnist 0 --k 3 --out out/')
    .action(async (o) => {
      const engine = await engineFor(o);
      const bar = cliProgressBar(o.progress, 'curvature', 5);
      bar.stage('loading the model');
      try {
        const { model, name, splitSeed } = await loadCliModel(engine, o.model, o.weights);
        const { x, names } = await loadInputs(model, {
          input: o.input,
          mnist: o.mnist,
          splitSeed: o.splitSeed ?? splitSeed ?? 1,
        });
        const gaussNewton = o.hessian === 'gauss-newton';
        if (gaussNewton && o.objective !== 'crossEntropy')
          throw new InvalidArgumentError(`--hessian gauss-newton needs --objective crossEntropy, got '${o.objective}'`);
        const { predicted } = predictions(await model.forward(x));
        const objective: Objective =
          o.objective === 'crossEntropy'
            ? { kind: 'crossEntropy', labels: predicted }
            : { kind: o.objective, target: predicted };
        const space = { gaussNewton };
        const eig = { ...space, iterations: o.lanczosSteps, seed: o.seed };
        bar.stage('λ_max');
        const largest = await hessianEigen(model, x, objective, { ...eig, which: 'largest' });
        bar.tick('λ_min');
        const smallest = await hessianEigen(model, x, objective, { ...eig, which: 'smallest' });
        bar.tick(`top-${o.k}`);
        const top = await hessianEigen(model, x, objective, { ...eig, k: o.k });
        bar.tick('trace');
        const trace = await hessianTrace(model, x, objective, { ...space, samples: o.traceSamples, seed: o.seed });
        bar.tick('spectral density');
        const density = await hessianDensity(model, x, objective, {
          ...space,
          probes: o.densityProbes,
          iterations: o.densitySteps,
          seed: o.seed,
        });
        bar.tick('');
        bar.stop();
        mkdirSync(o.out, { recursive: true });
        const examples = names.map((n, b) => {
          const plot = join(o.out, `${n}-density.png`);
          writeFileSync(plot, densityPlotPng(density.values[b]));
          return {
            name: n,
            predicted: predicted[b],
            lambdaMax: largest.values[b][0],
            lambdaMin: smallest.values[b][0],
            topK: top.values[b],
            trace: trace.values[b],
            traceStderr: trace.stderr?.[b] ?? null,
            density: density.values[b],
            plot,
          };
        });
        const record = {
          version: VERSION,
          backend: engine.describe(),
          model: name,
          objective: o.objective,
          hessian: o.hessian,
          seed: o.seed,
          examples,
        };
        writeFileSync(join(o.out, 'curvature.json'), JSON.stringify(record, null, 2) + '\n');
        const g = (v: number) => v.toExponential(3);
        emit(o.json, record, () => [
          `engine: ${engine.describe()}`,
          ...examples.map(
            (e) =>
              `${e.name}: λ_max ${g(e.lambdaMax)}, λ_min ${g(e.lambdaMin)}, top-${o.k} [${e.topK.map(g).join(', ')}], trace ${g(e.trace)}${e.traceStderr === null ? '' : ` ± ${g(e.traceStderr)}`}; density plot ${e.plot}`,
          ),
        ]);
      } finally {
        bar.stop();
        engine.dispose();
      }
    });
}
