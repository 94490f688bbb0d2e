import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { decode } from 'fast-png';
import { attackExplanation } from '../../attack/explanation-attack.js';
import type { ExplainMethod, ExplainSpec } from '../../attack/explain.js';
import { heatmapPng } from '../../io/png.js';
import type { Tensor } from '../../tensor.js';
import { emit, engineFor, intArg, modelCommandOptions, numArg, predictions, VERSION } from '../common.js';
import { loadCliModel, loadInputs, readUserFile } from '../load.js';
import { cliProgressBar } from '../progress.js';
import { overlayPng } from '../render/overlay.js';

/** The CLI's method names that the attacks can differentiate through (attack/explain.ts), and their library names. */
const ATTACK_METHODS: Record<string, ExplainMethod> = {
  saliency: 'saliency',
  gradxinput: 'inputXGradient',
  smoothgrad: 'smoothGrad',
  uniform: 'uniformGradient',
  ig: 'integratedGradients',
};

/** `smoothgeo attack`: an attack on the explanation of an input; writes the maps before and after, and the metrics. */
export function attackCommand(): Command {
  const cmd = new Command('attack').description(
    'attack the explanation of a model at its inputs (Ghorbani et al. 2019; Wang et al. 2020): top-k, centre of mass or targeted',
  );
  modelCommandOptions(cmd);
  return cmd
    .addOption(
      new Option('--attack <kind>', 'what the attack moves')
        .choices(['topk', 'centerOfMass', 'targeted'])
        .default('topk'),
    )
    .addOption(
      new Option('--method <name>', 'the explanation attacked')
        .choices(Object.keys(ATTACK_METHODS))
        .default('saliency'),
    )
    .option('--samples <n>', 'noise samples of smoothgrad / uniform maps', intArg('--samples', 1), 8)
    .option(
      '--relative-sigma <s>',
      'smoothgrad σ as a fraction of each input’s range',
      numArg('--relative-sigma', 0),
      0.15,
    )
    .option(
      '--relative-radius <r>',
      'uniform radius as a fraction of each input’s range',
      numArg('--relative-radius', 0),
      0.26,
    )
    .option('--steps <n>', 'integrated gradients quadrature points', intArg('--steps', 1), 8)
    .option('--epsilon <e>', 'L∞ radius of the perturbation', numArg('--epsilon', 0), 0.1)
    .option('--iterations <n>', 'attack iterations', intArg('--iterations', 1), 20)
    .option('--step-size <s>', 'attack step (default ε/10)', numArg('--step-size', 0))
    .option('--k <n>', 'top-k: pixels (default 10% of the map)', intArg('--k', 1))
    .option('--target-map <file.png>', 'targeted: the map to move the explanation towards (grey PNG, the map size)')
    .option('--seed <n>', 'seed of the attack and of the maps’ noise', intArg('--seed'), 1)
    .option('--out <dir>', 'folder for the before/after PNGs and attack.json', 'smoothgeo-out')
    .option('--scale <n>', 'pixels per input pixel in the PNGs', intArg('--scale', 1), 8)
    .addHelpText(
      'after',
      '\nExample:\n  smoothgeo attack --model nat --mnist 0 --attack topk --epsilon 0.1 --iterations 20 --out out/',
    )
    .action(async (o) => {
      const engine = await engineFor(o);
      const bar = cliProgressBar(o.progress, `attack ${o.attack}`, o.iterations);
      bar.stage('loading the model');
      try {
        const { model, name, splitSeed } = await loadCliModel(engine, o.model, o.weights);
        const { x, names, labels } = await loadInputs(model, {
          input: o.input,
          mnist: o.mnist,
          splitSeed: o.splitSeed ?? splitSeed ?? 1,
        });
        const [C, H, W] = model.inputShape,
          hw = H * W;
        const method = ATTACK_METHODS[o.method];
        const explain: ExplainSpec = { method };
        if (method === 'smoothGrad') Object.assign(explain, { samples: o.samples, relativeSigma: o.relativeSigma });
        if (method === 'uniformGradient')
          Object.assign(explain, { samples: o.samples, relativeRadius: o.relativeRadius });
        if (method === 'integratedGradients') explain.steps = o.steps;
        let targetMap: Tensor | undefined;
        if (o.attack === 'targeted') {
          if (!o.targetMap) throw new InvalidArgumentError('--attack targeted needs --target-map <file.png>');
          const png = decode(readUserFile('--target-map', o.targetMap));
          if (png.width !== W || png.height !== H)
            throw new InvalidArgumentError(`--target-map is ${png.width}×${png.height}; the map is ${W}×${H}`);
          const data = new Float32Array(hw);
          for (let i = 0; i < hw; i++) data[i] = png.data[i * png.channels];
          targetMap = { shape: [H, W], data };
        } else if (o.targetMap) throw new InvalidArgumentError('--target-map goes with --attack targeted only');
        const r = await attackExplanation(model, x, {
          attack: o.attack,
          explain,
          epsilon: o.epsilon,
          iterations: o.iterations,
          stepSize: o.stepSize,
          k: o.k,
          targetMap,
          seed: o.seed,
          onIteration: () => bar.tick('iterations'),
        });
        bar.stop();
        const before = predictions(await model.forward(x));
        const after = predictions(await model.forward(r.adversarial));
        mkdirSync(o.out, { recursive: true });
        const grey = (t: Tensor, b: number) => {
          const g = new Float32Array(hw);
          for (let c = 0; c < C; c++) for (let i = 0; i < hw; i++) g[i] += t.data[b * C * hw + c * hw + i] / C;
          return g;
        };
        const examples = names.map((n, b) => {
          const files = {
            before: join(o.out, `${n}-${o.attack}-before.png`),
            after: join(o.out, `${n}-${o.attack}-after.png`),
            adversarial: join(o.out, `${n}-${o.attack}-adversarial.png`),
          };
          const slice = (m: Tensor) => m.data.subarray(b * hw, (b + 1) * hw);
          writeFileSync(
            files.before,
            overlayPng({ input: grey(x, b), map: slice(r.originalMap), height: H, width: W, scale: o.scale }),
          );
          writeFileSync(
            files.after,
            overlayPng({
              input: grey(r.adversarial, b),
              map: slice(r.attackedMap),
              height: H,
              width: W,
              scale: o.scale,
            }),
          );
          writeFileSync(
            files.adversarial,
            heatmapPng({ shape: [H, W], data: grey(r.adversarial, b) }, { palette: 'sequential', scale: o.scale }),
          );
          return {
            name: n,
            label: labels[b],
            predictedBefore: before.predicted[b],
            predictedAfter: after.predicted[b],
            labelPreserved: r.labelPreserved[b],
            bestIteration: r.bestIteration[b],
            [r.measure.name]: { before: r.measure.before[b], after: r.measure.after[b] },
            files,
          };
        });
        const record = {
          version: VERSION,
          backend: engine.describe(),
          model: name,
          attack: o.attack,
          explain,
          epsilon: o.epsilon,
          iterations: o.iterations,
          seed: r.seed,
          measure: r.measure.name,
          examples,
        };
        writeFileSync(join(o.out, 'attack.json'), JSON.stringify(record, null, 2) + '\n');
        emit(o.json, record, () => [
          `engine: ${engine.describe()}`,
          ...examples.map(
            (e, b) =>
              `${e.name}: ${r.measure.name} ${r.measure.before[b].toFixed(4)} → ${r.measure.after[b].toFixed(4)}; prediction ${e.predictedBefore} → ${e.predictedAfter}${e.labelPreserved ? '' : ' (label not preserved: clean input kept)'}`,
          ),
          `wrote before/after maps and attack.json to ${o.out}`,
        ]);
      } finally {
        bar.stop();
        engine.dispose();
      }
    });
}
