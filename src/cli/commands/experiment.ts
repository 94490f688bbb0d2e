import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { experimentMarkdown } from '../experiment/report.js';
import { METHODS, runExperiment } from '../experiment/run.js';
import { fail } from '../../errors.js';
import { commandLine, emit, engineFor, intArg, listArg, numArg, VERSION, THREADS_HELP } from '../common.js';
import { cliProgressBar } from '../progress.js';

/** The shipped checkpoints: examples/models beside dist/ in the package. */
function defaultModelsDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'models');
}

/** `smoothgeo experiment`: the paper's experiment on real MNIST digits; writes results.json, results.md and PNGs. */
export function experimentCommand(): Command {
  return new Command('experiment')
    .description(
      'attack the explanations of the NAT, SSR and Madry models on real MNIST test digits (Wang et al. 2020, §5); small defaults',
    )
    .option(
      '--models-dir <dir>',
      'folder with lenet-<model>.safetensors (+ .json training records)',
      defaultModelsDir(),
    )
    .option('--spec <file>', 'model spec (default <models-dir>/lenet-relu.json)')
    .option('--models <names>', 'comma-separated model names', 'nat,ssr,madry')
    .option('--digits <n>', 'correctly classified test digits to attack', intArg('--digits', 1), 8)
    .option('--epsilon <e>', 'L∞ radius of the attack', numArg('--epsilon', 0), 0.3)
    .option('--step <s>', 'attack step size', numArg('--step', 0), 0.01)
    .option('--steps <n>', 'attack iterations (the full setting: 100)', intArg('--steps', 1), 15)
    .option('--k <k>', 'top-k pixels', intArg('--k', 1), 100)
    .option('--samples <n>', 'SmoothGrad / Uniform Gradient samples', intArg('--samples', 1), 8)
    .option('--sigma <s>', 'SmoothGrad σ', numArg('--sigma', 0), 0.15)
    .option('--radius <r>', 'Uniform Gradient cube radius (√3·σ has the same variance)', numArg('--radius', 0), 0.26)
    .option('--ig-steps <n>', 'Integrated Gradients quadrature points', intArg('--ig-steps', 1), 8)
    .option(
      '--curve-epsilons <list>',
      'extra ε values for the top-k-against-ε figure',
      listArg('--curve-epsilons', numArg('ε', 0)),
      [0.1],
    )
    .option(
      '--lipschitz-samples <n>',
      'SmoothGrad samples of the Theorem 2 estimate',
      intArg('--lipschitz-samples', 1),
      64,
    )
    .option('--split-seed <n>', 'seed of the MNIST split the models were trained on', intArg('--split-seed'), 1)
    .option('--seed <n>', 'seed of the attacks and the noise', intArg('--seed'), 1)
    .option('--out <dir>', 'output folder', 'out/experiment')
    .option('--backend <name>', 'auto, webgpu, wasm or cpu', 'auto')
    .option('--threads <n>', THREADS_HELP, intArg('--threads', 1))
    .option('--json', 'print results.json on stdout as well')
    .option('--no-progress', 'no progress bar; each stage is then a line on stderr (as when stderr is not a terminal)')
    .option('--verbose', 'print the stack trace of an error')
    .addHelpText(
      'after',
      '\nExample:\n  smoothgeo experiment --models nat,ssr --digits 8 --steps 15 --out out/experiment',
    )
    .action(async (o, cmd: Command) => {
      if (!existsSync(o.modelsDir)) fail('INVALID_ARGUMENT', `--models-dir: no such folder '${o.modelsDir}'`);
      const spec = o.spec ?? join(o.modelsDir, 'lenet-relu.json');
      if (!existsSync(spec)) fail('INVALID_ARGUMENT', `--spec: no such file '${spec}'`);
      const engine = await engineFor(o);
      console.error(`engine: ${engine.describe()}`);
      const t0 = performance.now();
      const options = {
        modelsDir: o.modelsDir,
        spec,
        models: String(o.models)
          .split(',')
          .map((s: string) => s.trim())
          .filter(Boolean),
        digits: o.digits,
        epsilon: o.epsilon,
        step: o.step,
        steps: o.steps,
        k: o.k,
        samples: o.samples,
        sigma: o.sigma,
        radius: o.radius,
        igSteps: o.igSteps,
        curveEpsilons: o.curveEpsilons,
        lipschitzSamples: o.lipschitzSamples,
        splitSeed: o.splitSeed,
        seed: o.seed,
      };
      // runExperiment logs one line per stage: per model its accuracy, λ_max, each method's attack, the
      // transfer and Theorem 2, and once the digits. On a terminal they become the bar's stage text.
      const bar = cliProgressBar(o.progress, 'experiment', options.models.length * (METHODS.length + 4) + 1);
      const tty = o.progress && process.stderr.isTTY === true;
      const out = await runExperiment(engine, options, (s) => (tty ? bar.tick(s) : console.error(s))).finally(() =>
        bar.stop(),
      );
      const seconds = (performance.now() - t0) / 1000;
      mkdirSync(join(o.out, 'maps'), { recursive: true });
      const command = commandLine(cmd);
      const json = {
        command,
        versions: { smoothgeo: VERSION, node: process.versions.node },
        seconds,
        seeds: { attack: o.seed, split: o.splitSeed },
        ...out.results,
      };
      writeFileSync(join(o.out, 'results.json'), JSON.stringify(json, null, 2) + '\n');
      writeFileSync(join(o.out, 'results.md'), experimentMarkdown(out.results, { command, seconds }));
      for (const f of out.figures) writeFileSync(join(o.out, f.path), f.bytes);
      emit(o.json, json, () => [
        `wrote ${join(o.out, 'results.json')}, results.md and ${out.figures.length} PNG figures (${seconds.toFixed(0)} s)`,
      ]);
      engine.dispose();
    });
}
