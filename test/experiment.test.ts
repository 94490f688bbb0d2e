import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { experimentCommand } from '../src/cli/commands/experiment.js';

const MODELS = join(import.meta.dirname, '..', 'examples', 'models');

describe('smoothgeo experiment (tiny settings, end to end)', () => {
  it('writes valid results.json, results.md and PNG figures', async () => {
    // Two models (the same shipped 6-epoch NAT checkpoint under two names) keep the test small but every
    // table has more than one column.
    const dir = mkdtempSync(join(tmpdir(), 'smoothgeo-exp-'));
    const models = join(dir, 'models'),
      out = join(dir, 'out');
    mkdirSync(models);
    copyFileSync(join(MODELS, 'lenet-relu.json'), join(models, 'lenet-relu.json'));
    for (const n of ['a', 'b'])
      copyFileSync(join(MODELS, 'init', 'lenet-nat-6ep.safetensors'), join(models, `lenet-${n}.safetensors`));
    // Model a's record also carries a PGD evaluation, as `smoothgeo evaluate --record` writes it.
    const rec = JSON.parse(readFileSync(join(MODELS, 'init', 'lenet-nat-6ep.json'), 'utf8'));
    rec.robustAccuracy = { digits: 2000, attack: { epsilon: 0.3, step: 0.01, iterations: 40 }, robustAccuracy: 0.125 };
    writeFileSync(join(models, 'lenet-a.json'), JSON.stringify(rec));
    const cmd = experimentCommand();
    cmd.exitOverride();
    await cmd.parseAsync(
      [
        '--models-dir',
        models,
        '--models',
        'a,b',
        '--digits',
        '2',
        '--steps',
        '2',
        '--samples',
        '2',
        '--ig-steps',
        '2',
        '--curve-epsilons',
        '0.1',
        '--lipschitz-samples',
        '4',
        '--backend',
        'cpu',
        '--out',
        out,
      ],
      { from: 'user' },
    );

    const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(r.backend).toBe('cpu');
    expect(r.command).toMatch(/^smoothgeo experiment --models-dir /);
    expect(r.seeds).toEqual({ attack: 1, split: 1 });
    expect(r.versions.smoothgeo).toMatch(/^\d+\.\d+\.\d+$/);
    expect(r.digits.ids.length).toBe(2);
    expect(r.models.map((m: { name: string }) => m.name)).toEqual(['a', 'b']);
    for (const m of r.models) {
      expect(m.cleanAccuracy).toBeGreaterThan(0.9); // the shipped checkpoint is trained (97.2% on the test split)
      expect(m.lambdaMax.mean).toBeGreaterThan(0);
      for (const method of ['saliency', 'inputXGradient', 'smoothGrad', 'uniformGradient', 'integratedGradients']) {
        const q = m.methods[method];
        expect(q.topKIntersection.mean).toBeGreaterThanOrEqual(0);
        expect(q.topKIntersection.mean).toBeLessThanOrEqual(1);
        expect(q.kendallTau.mean).toBeGreaterThanOrEqual(-1);
        expect(q.kendallTau.mean).toBeLessThanOrEqual(1);
        expect(Number.isFinite(q.centerOfMassDislocation.mean)).toBe(true);
        expect(m.curve.topK[method]).toHaveLength(3); // ε = 0, 0.1, 0.3
      }
      for (const method of ['smoothGrad', 'uniformGradient', 'integratedGradients'])
        expect(m.transfer[method].n).toBe(2);
      expect(m.theorem2.bound).toBeCloseTo(2 / 0.15 ** 2, 6);
      expect(m.theorem2.pairs).toBe(6);
      expect(m.theorem2.worstRatio).toBeGreaterThan(0);
    }
    expect(r.models[0].secondsPerEpoch).toBeGreaterThan(0); // from lenet-a.json
    expect(r.models[1].secondsPerEpoch).toBeNull(); // no record for b
    expect(r.models[0].pgdAccuracy.robustAccuracy).toBe(0.125);
    expect(r.models[1].pgdAccuracy).toBeNull();

    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toMatch(/^# smoothgeo experiment/);
    expect(md).toMatch(/\| method \| a \| b \|/);
    expect(md).toMatch(/## Theorem 2/);
    expect(md).toMatch(/\| a \| [\d.]+% \| 12\.50% \(ε = 0\.3, 40 × 0\.01, 2000 digits\) \|/);
    expect(md).toMatch(/\| b \| [\d.]+% \| n\/a \|/);

    const pngs = [
      ...readdirSync(out).filter((f) => f.endsWith('.png')),
      ...readdirSync(join(out, 'maps')).map((f) => join('maps', f)),
    ];
    expect(pngs.length).toBe(1 + 2 + 2 * 5 * 3); // digit, a curve per model, before/after/adversarial per model and method
    for (const f of pngs) {
      const img = decode(readFileSync(join(out, f)));
      expect(img.width).toBeGreaterThan(0);
      expect(img.height).toBeGreaterThan(0);
    }
  });
});
