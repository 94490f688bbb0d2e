import { readFileSync } from 'node:fs';
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

export async function engineFor(backend: string): Promise<Engine> {
  if (!['auto', 'webgpu', 'cpu'].includes(backend))
    throw new InvalidArgumentError(`--backend must be auto, webgpu or cpu, got '${backend}'`);
  return createEngine({ backend: backend as 'auto' | 'webgpu' | 'cpu' });
}

export function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

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
