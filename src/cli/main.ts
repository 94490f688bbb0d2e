/**
 * The `smoothgeo` command line. Each command lives in its own file under commands/ and is registered
 * here; errors print their message (and SmoothgeoError code) and exit with status 1.
 */
import { Command } from 'commander';
import { SmoothgeoError } from '../errors.js';
import { VERSION } from './common.js';
import { trainCommand } from './commands/train.js';
import { experimentCommand } from './commands/experiment.js';

const program = new Command('smoothgeo')
  .description(
    'robust gradient attribution: training with SSR, attacks on explanations, the experiment of Wang et al. 2020',
  )
  .version(VERSION)
  .showHelpAfterError();
program.addCommand(trainCommand());
program.addCommand(experimentCommand());

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const code = e instanceof SmoothgeoError ? ` [${e.code}]` : '';
  console.error(`smoothgeo: ${(e as Error).message}${code}`);
  process.exit(1);
}
