import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { trainCommand } from '../src/cli/commands/train.js';
import { cpuEngine } from './helpers.js';
import { loadModel } from '../src/graph/model.js';
import { parseSafetensors } from '../src/io/safetensors.js';

const SPEC = join(import.meta.dirname, '..', 'examples', 'models', 'lenet-relu.json');

describe('smoothgeo train', () => {
  it('trains a few SSR steps and writes a checkpoint loadModel reads, with its record and metadata', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'smoothgeo-train-')), 'm.safetensors');
    const cmd = trainCommand();
    cmd.exitOverride();
    await cmd.parseAsync(
      [
        '--model',
        SPEC,
        '--out',
        out,
        '--backend',
        'cpu',
        '--epochs',
        '1',
        '--max-steps',
        '2',
        '--batch-size',
        '16',
        '--regularizer',
        'ssr',
        '--alpha',
        '0.3',
        '--seed',
        '4',
        '--no-progress',
      ],
      { from: 'user' },
    );
    const bytes = readFileSync(out);
    const meta = parseSafetensors(bytes).metadata;
    expect(meta?.seed).toBe('4');
    expect(meta?.command).toMatch(/^smoothgeo /);
    const model = await loadModel(await cpuEngine(), JSON.parse(readFileSync(SPEC, 'utf8')), bytes);
    expect(Object.keys(model.parameters)).toContain('fc3.weight');
    const rec = JSON.parse(readFileSync(out.replace(/\.safetensors$/, '.json'), 'utf8'));
    expect(rec.steps).toBe(2);
    expect(rec.seed).toBe(4);
    expect(rec.backend).toBe('cpu');
    expect(rec.regularizer).toEqual({ kind: 'ssr', alpha: 0.3, scale: 1, iterations: 1 });
    expect(rec.testDigits).toBe(2000);
    expect(rec.augment).toBeNull();
    expect(rec.testAccuracy).toBeGreaterThanOrEqual(0);
    expect(rec.history[0].lambdaMax).toBeGreaterThan(0);
  });

  it('Madry with --epsilon-warmup: the record keeps the warm-up and each epoch its ε', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'smoothgeo-train-')), 'm.safetensors');
    const cmd = trainCommand();
    cmd.exitOverride();
    // 8,000 digits / batch 16 = 500 steps per epoch: after 2 steps of a 1-epoch warm-up ε is 0.3 · 2/500.
    await cmd.parseAsync(
      [
        ...['--model', SPEC, '--out', out, '--backend', 'cpu', '--epochs', '1', '--max-steps', '2'],
        ...['--batch-size', '16', '--regularizer', 'madry', '--epsilon', '0.3', '--pgd-step', '0.1'],
        ...['--pgd-iterations', '1', '--epsilon-warmup', '1', '--seed', '4', '--no-progress'],
      ],
      { from: 'user' },
    );
    const rec = JSON.parse(readFileSync(out.replace(/\.safetensors$/, '.json'), 'utf8'));
    expect(rec.regularizer).toEqual({ kind: 'madry', epsilon: 0.3, step: 0.1, iterations: 1, epsilonWarmup: 1 });
    expect(rec.history[0].epsilon).toBeCloseTo((0.3 * 2) / 500, 15);
    const cmd2 = trainCommand();
    cmd2.exitOverride();
    cmd2.configureOutput({ writeErr: () => {} });
    await expect(
      cmd2.parseAsync(['--model', SPEC, '--out', out, '--epsilon-warmup', '-1'], { from: 'user' }),
    ).rejects.toThrow(/--epsilon-warmup must be a number in \[0, Infinity\], got '-1'/);
  });

  it('--augment-shift is passed to train and kept in the record', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'smoothgeo-train-')), 'm.safetensors');
    const cmd = trainCommand();
    cmd.exitOverride();
    await cmd.parseAsync(
      [
        ...['--model', SPEC, '--out', out, '--backend', 'cpu', '--max-steps', '1', '--batch-size', '8'],
        ...['--augment-shift', '2', '--seed', '4', '--no-progress'],
      ],
      { from: 'user' },
    );
    const rec = JSON.parse(readFileSync(out.replace(/\.safetensors$/, '.json'), 'utf8'));
    expect(rec.augment).toEqual({ shift: 2 });
    expect(rec.command).toMatch(/--augment-shift 2/);
  });

  it('rejects a bad option value with a message naming it', async () => {
    const cmd = trainCommand();
    cmd.exitOverride();
    cmd.configureOutput({ writeErr: () => {} });
    await expect(
      cmd.parseAsync(['--model', SPEC, '--out', 'x.safetensors', '--alpha', '2'], { from: 'user' }),
    ).rejects.toThrow(/--alpha must be a number in \[0, 1\], got '2'/);
  });
});
