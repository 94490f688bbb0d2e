import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  attributionMap,
  inputXGradient,
  integratedGradients,
  saliency,
  smoothGrad,
  smoothGradSquared,
  uniformGradient,
  varGrad,
  type AttributionResult,
} from '../../attribution/methods.js';
import type { Model } from '../../graph/model.js';
import type { Tensor } from '../../tensor.js';
import { emit, engineFor, intArg, modelCommandOptions, numArg, predictions, VERSION } from '../common.js';
import { loadCliModel, loadInputs } from '../load.js';
import { cliProgressBar } from '../progress.js';
import { overlayPng } from '../render/overlay.js';

export const CLI_METHODS = ['saliency', 'gradxinput', 'smoothgrad', 'smoothgrad2', 'vargrad', 'uniform', 'ig'] as const;
type CliMethod = (typeof CLI_METHODS)[number];

interface MethodOptions {
  target: number[];
  output: 'logit' | 'probability';
  samples: number;
  sigma?: number;
  relativeSigma: number;
  radius?: number;
  relativeRadius: number;
  shape: 'cube' | 'ball';
  steps: number;
  seed?: number;
}

/** One CLI method name → its library call; σ and r are absolute when given, else relative to each input's range. */
export function runMethod(model: Model, x: Tensor, method: CliMethod, o: MethodOptions): Promise<AttributionResult> {
  const base = { target: o.target, output: o.output };
  const gauss = {
    ...base,
    samples: o.samples,
    seed: o.seed,
    ...(o.sigma === undefined ? { relativeSigma: o.relativeSigma } : { sigma: o.sigma }),
  };
  switch (method) {
    case 'saliency':
      return saliency(model, x, base);
    case 'gradxinput':
      return inputXGradient(model, x, base);
    case 'smoothgrad':
      return smoothGrad(model, x, gauss);
    case 'smoothgrad2':
      return smoothGradSquared(model, x, gauss);
    case 'vargrad':
      return varGrad(model, x, gauss);
    case 'uniform':
      return uniformGradient(model, x, {
        ...base,
        samples: o.samples,
        seed: o.seed,
        shape: o.shape,
        ...(o.radius === undefined ? { relativeRadius: o.relativeRadius } : { radius: o.radius }),
      });
    case 'ig':
      return integratedGradients(model, x, { ...base, steps: o.steps });
  }
}

function methodList(v: string): CliMethod[] {
  return v.split(',').map((m) => {
    const name = m.trim();
    if (!(CLI_METHODS as readonly string[]).includes(name))
      throw new InvalidArgumentError(`--method must be among ${CLI_METHODS.join(', ')}, got '${name}'`);
    return name as CliMethod;
  });
}

/** The method options shared by `explain` and `attack`. */
export function methodOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--output-kind <kind>', 'explain the class logit or its softmax probability')
        .choices(['logit', 'probability'])
        .default('logit'),
    )
    .option('--target <classes>', 'class explained per example (default: the prediction)', (v) =>
      v.split(',').map((s) => intArg('--target', 0)(s.trim())),
    )
    .option('--samples <n>', 'noise samples (smoothgrad, smoothgrad2, vargrad, uniform)', intArg('--samples', 1), 32)
    .option('--sigma <s>', 'Gaussian σ in input units (default: --relative-sigma)', numArg('--sigma', 0))
    .option(
      '--relative-sigma <s>',
      'Gaussian σ as a fraction of each input’s range',
      numArg('--relative-sigma', 0),
      0.15,
    )
    .option('--radius <r>', 'uniform noise radius in input units (default: --relative-radius)', numArg('--radius', 0))
    .option(
      '--relative-radius <r>',
      'uniform noise radius as a fraction of each input’s range',
      numArg('--relative-radius', 0),
      0.26,
    )
    .addOption(new Option('--shape <shape>', 'uniform noise region').choices(['cube', 'ball']).default('cube'))
    .option('--steps <n>', 'integrated gradients: quadrature points', intArg('--steps', 1), 32)
    .option('--seed <n>', 'seed of the noise (drawn and reported when omitted)', intArg('--seed'));
}

/** `smoothgeo explain`: attribution maps of a model's predictions, as heatmap PNGs over the inputs and as JSON. */
export function explainCommand(): Command {
  const cmd = new Command('explain').description(
    'attribution maps of a model at its inputs: PNG heatmaps over each input with a colour-bar legend, and JSON',
  );
  modelCommandOptions(cmd);
  methodOptions(cmd);
  return cmd
    .option('--method <names>', `comma-separated: ${CLI_METHODS.join(', ')}`, methodList, ['saliency'] as CliMethod[])
    .option('--out <dir>', 'folder for the PNGs and explain.json', 'smoothgeo-out')
    .option('--scale <n>', 'pixels per input pixel in the PNGs', intArg('--scale', 1), 8)
    .addHelpText(
      'after',
      '\nExample:\n  smoothgeo explain --model ssr --mnist 0,1 --method saliency,smoothgrad --seed 1 --out out/',
    )
    .action(async (o) => {
      const engine = await engineFor(o);
      const methodsAsked = o.method as CliMethod[];
      const bar = cliProgressBar(o.progress, 'explain', methodsAsked.length);
      bar.stage('loading the model');
      try {
        const { model, name, splitSeed } = await loadCliModel(engine, o.model, o.weights);
        const { x, names, labels } = await loadInputs(model, {
          input: o.input,
          mnist: o.mnist,
          splitSeed: o.splitSeed ?? splitSeed ?? 1,
        });
        const B = x.shape[0],
          [C, H, W] = model.inputShape,
          hw = H * W;
        const { predicted, probability } = predictions(await model.forward(x));
        const target: number[] = o.target ?? predicted;
        if (target.length !== B)
          throw new InvalidArgumentError(`--target gives ${target.length} classes for ${B} examples`);
        mkdirSync(o.out, { recursive: true });
        const grey = (b: number) => {
          const g = new Float32Array(hw);
          for (let c = 0; c < C; c++) for (let i = 0; i < hw; i++) g[i] += x.data[b * C * hw + c * hw + i] / C;
          return g;
        };
        const methods: Record<string, unknown> = {};
        for (const method of methodsAsked) {
          bar.stage(method);
          const r = await runMethod(model, x, method, {
            target,
            output: o.outputKind,
            samples: o.samples,
            sigma: o.sigma,
            relativeSigma: o.relativeSigma,
            radius: o.radius,
            relativeRadius: o.relativeRadius,
            shape: o.shape,
            steps: o.steps,
            seed: o.seed,
          });
          const map = attributionMap(r.attributions);
          const files: string[] = [];
          for (let b = 0; b < B; b++) {
            const file = join(o.out, `${names[b]}-${method}.png`);
            writeFileSync(
              file,
              overlayPng({
                input: grey(b),
                map: map.data.subarray(b * hw, (b + 1) * hw),
                height: H,
                width: W,
                scale: o.scale,
              }),
            );
            files.push(file);
          }
          methods[method] = {
            seed: r.seed,
            ...(r.samples === undefined ? {} : { samples: r.samples, noiseScale: r.noiseScale }),
            ...('delta' in r ? { delta: (r as { delta: number[] }).delta } : {}),
            files,
            maps: Array.from({ length: B }, (_, b) => Array.from(map.data.subarray(b * hw, (b + 1) * hw))),
          };
          bar.tick();
        }
        bar.stop();
        const record = {
          version: VERSION,
          backend: engine.describe(),
          model: name,
          examples: names.map((n, b) => ({
            name: n,
            label: labels[b],
            predicted: predicted[b],
            probability: probability[b],
            target: target[b],
          })),
          mapShape: [H, W],
          methods,
        };
        writeFileSync(join(o.out, 'explain.json'), JSON.stringify(record) + '\n');
        emit(o.json, record, () => [
          `engine: ${engine.describe()}`,
          ...names.map(
            (n, b) =>
              `${n}: predicted ${predicted[b]} (p = ${probability[b].toFixed(4)})${labels[b] === null ? '' : `, label ${labels[b]}`}; explained class ${target[b]}`,
          ),
          `wrote ${Object.keys(methods).length * B} heatmap PNG(s) and explain.json to ${o.out}`,
        ]);
      } finally {
        bar.stop();
        engine.dispose();
      }
    });
}
