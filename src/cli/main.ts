/**
 * The `smoothgeo` command line. Each command lives in its own file under commands/ and is registered
 * here. An error prints one line on stderr (its message, and its SmoothgeoError code) and exits with
 * status 1; the stack trace only with --verbose.
 */
import { Command } from 'commander';
import { SmoothgeoError } from '../errors.js';
import { VERSION } from './common.js';
import { attackCommand } from './commands/attack.js';
import { benchCommand } from './commands/bench.js';
import { curvatureCommand } from './commands/curvature.js';
import { evaluateCommand } from './commands/evaluate.js';
import { experimentCommand } from './commands/experiment.js';
import { explainCommand } from './commands/explain.js';
import { infoCommand } from './commands/info.js';
import { trainCommand } from './commands/train.js';

const program = new Command('smoothgeo')
  .description(
    'robust gradient attribution on WebGPU: explanations, attacks on them, curvature, training with SSR, the experiment of Wang et al. 2020',
  )
  .version(VERSION)
  .addHelpText(
    'after',
    '\nExample:\n  smoothgeo explain --model ssr --mnist 0,1 --method smoothgrad --out out/\n  smoothgeo <command> --help',
  );
for (const command of [
  infoCommand(),
  explainCommand(),
  attackCommand(),
  curvatureCommand(),
  benchCommand(),
  trainCommand(),
  evaluateCommand(),
  experimentCommand(),
])
  program.addCommand(command);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const code = e instanceof SmoothgeoError ? ` [${e.code}]` : '';
  console.error(`smoothgeo: ${(e as Error).message}${code}`);
  if (process.argv.includes('--verbose')) console.error((e as Error).stack);
  process.exit(1);
}
