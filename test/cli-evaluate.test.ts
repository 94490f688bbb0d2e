import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { evaluateCommand } from '../src/cli/commands/evaluate.js';
import { robustAccuracy } from '../src/attack/robust.js';
import { loadMnist } from '../src/data/mnist.js';
import { loadModel } from '../src/graph/model.js';
import { cpuEngine } from './helpers.js';

const MODELS = join(import.meta.dirname, '..', 'examples', 'models');

describe('smoothgeo evaluate', () => {
  it('prints the clean and PGD accuracy robustAccuracy gives, and adds them to a record', async () => {
    const record = join(mkdtempSync(join(tmpdir(), 'smoothgeo-evaluate-')), 'r.json');
    writeFileSync(record, JSON.stringify({ kept: 1 }));
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((s: string) => void lines.push(s));
    try {
      const cmd = evaluateCommand();
      cmd.exitOverride();
      await cmd.parseAsync(
        [
          ...['--model', 'madry', '--backend', 'cpu', '--digits', '12', '--iterations', '3', '--step', '0.1'],
          ...['--seed', '2', '--batch-size', '5', '--record', record, '--json', '--no-progress'],
        ],
        { from: 'user' },
      );
    } finally {
      log.mockRestore();
    }
    const out = JSON.parse(lines.join('\n'));
    // The same numbers from the library on the same digits.
    const { test } = await loadMnist({ seed: 1 });
    const model = await loadModel(
      await cpuEngine(),
      JSON.parse(readFileSync(join(MODELS, 'lenet-relu.json'), 'utf8')),
      readFileSync(join(MODELS, 'lenet-madry.safetensors')),
    );
    const want = await robustAccuracy(
      model,
      { shape: [12, 1, 28, 28], data: test.x.data.subarray(0, 12 * 784) },
      { labels: test.labels.slice(0, 12), epsilon: 0.3, stepSize: 0.1, iterations: 3, seed: 2 },
    );
    expect(out.accuracy).toBe(want.accuracy);
    expect(out.robustAccuracy).toBe(want.robustAccuracy);
    expect(out.digits).toBe(12);
    expect(out.attack).toEqual({ norm: 'linf', epsilon: 0.3, step: 0.1, iterations: 3, randomStart: true, seed: 2 });
    const rec = JSON.parse(readFileSync(record, 'utf8'));
    expect(rec.kept).toBe(1);
    expect(rec.robustAccuracy.robustAccuracy).toBe(want.robustAccuracy);
    expect(rec.robustAccuracy.command).toMatch(/^smoothgeo evaluate /);
  });

  it('refuses a --record that does not exist, naming it', async () => {
    const cmd = evaluateCommand();
    cmd.exitOverride();
    await expect(
      cmd.parseAsync(['--model', 'nat', '--record', '/nonexistent/r.json'], { from: 'user' }),
    ).rejects.toThrow(/--record: no such file '\/nonexistent\/r.json'/);
  });
});
