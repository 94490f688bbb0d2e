import { InvalidArgumentError, type Command } from 'commander';
import { createEngine, type Engine } from '../engine.js';

/** Option parsers shared by the commands: each rejects bad text with a message naming what was expected. */
export function intArg(name: string, min = 0): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
}

export function numArg(name: string, min = -Infinity, max = Infinity): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be a number in [${min}, ${max}], got '${v}'`);
    return n;
  };
}

export function listArg(name: string, parse: (v: string) => number): (v: string) => number[] {
  return (v) =>
    v.split(',').map((s) => {
      try {
        return parse(s.trim());
      } catch (e) {
        throw new InvalidArgumentError(`${name}: ${(e as Error).message}`);
      }
    });
}

/** The engine of a command: `--backend`, and `--threads` for the wasm backend (refused with another). */
export async function engineFor(o: { backend: string; threads?: number }): Promise<Engine> {
  const { backend, threads } = o;
  if (!['auto', 'webgpu', 'wasm', 'cpu'].includes(backend))
    throw new InvalidArgumentError(`--backend must be auto, webgpu, wasm or cpu, got '${backend}'`);
  const engine = await createEngine({ backend: backend as 'auto' | 'webgpu' | 'wasm' | 'cpu', threads });
  if (threads !== undefined && engine.backend !== 'wasm') {
    engine.dispose();
    throw new InvalidArgumentError(`--threads is for the wasm backend; --backend ${backend} runs on ${engine.backend}`);
  }
  return engine;
}

/** Help of `--threads`, on every command that computes. */
export const THREADS_HELP =
  'threads of the wasm backend (default: the available cores; Node worker threads over a shared memory)';

/**
 * The command line as typed, for the records a command writes: from the program's argv when run as the bin,
 * or from the arguments given to the command itself when it is parsed directly (tests, scripts).
 */
export function commandLine(cmd: Command): string {
  const parentArgs = (cmd.parent as (Command & { rawArgs?: string[] }) | null)?.rawArgs;
  const args = parentArgs
    ? parentArgs.slice(2)
    : [cmd.name(), ...((cmd as Command & { rawArgs?: string[] }).rawArgs ?? [])];
  return ['smoothgeo', ...args].join(' ');
}

export const VERSION = '0.1.0';

/** The options every model command takes: the model, its examples, the backend, the output form. */
export function modelCommandOptions(cmd: Command): Command {
  return cmd
    .option(
      '--model <nat|ssr|madry|spec.json|model.onnx>',
      'a shipped LeNet (trained on MNIST), a model spec, or an ONNX file',
      'nat',
    )
    .option('--weights <file.safetensors>', 'the weights of a --model spec')
    .option('--input <files...>', 'input images (PNG, the model input size)')
    .option('--mnist <indices>', 'indices into the MNIST test split (e.g. 0,1,2)', listArg('--mnist', intArg('index')))
    .option(
      '--split-seed <n>',
      'seed of the MNIST split (default: the shipped model’s training split, else 1)',
      intArg('--split-seed'),
    )
    .option('--backend <name>', 'auto, webgpu, wasm or cpu', 'auto')
    .option('--threads <n>', THREADS_HELP, intArg('--threads', 1))
    .option('--json', 'print one JSON object on stdout instead of text')
    .option('--no-progress', 'no progress bar (it is off anyway when stderr is not a terminal)')
    .option('--verbose', 'print the stack trace of an error');
}

/** Prints a result: its JSON when --json, else the human lines. */
export function emit(json: boolean | undefined, value: unknown, lines: () => string[]): void {
  if (json) console.log(JSON.stringify(value, null, 2));
  else for (const l of lines()) console.log(l);
}

/** Softmax of each row of logits [B, K]: the predicted class and its probability. */
export function predictions(logits: { shape: number[]; data: Float32Array }): {
  predicted: number[];
  probability: number[];
} {
  const [B, K] = logits.shape;
  const predicted: number[] = [],
    probability: number[] = [];
  for (let b = 0; b < B; b++) {
    const z = Array.from(logits.data.subarray(b * K, (b + 1) * K));
    const mx = Math.max(...z);
    const e = z.map((v) => Math.exp(v - mx));
    const s = e.reduce((a, v) => a + v, 0);
    const k = z.indexOf(mx);
    predicted.push(k);
    probability.push(e[k] / s);
  }
  return { predicted, probability };
}
