import type { ExperimentOutput, Stat } from './run.js';
import { METHODS } from './run.js';

const pm = (s: Stat, digits = 3) => `${s.mean.toFixed(digits)} ± ${s.se.toFixed(digits)}`;

/** The experiment's tables as Markdown. */
export function experimentMarkdown(
  out: ExperimentOutput['results'],
  meta: { command: string; seconds: number },
): string {
  const o = out.options;
  const lines: string[] = [];
  lines.push(
    '# smoothgeo experiment: attacks on explanations of NAT, SSR and Madry models (real MNIST test digits)',
    '',
  );
  lines.push(`Command: \`${meta.command}\``, '');
  lines.push(
    `Backend: ${out.adapter}. ${out.digits.ids.length} test digits (ids ${out.digits.ids.join(', ')}), correctly classified by every model.`,
  );
  lines.push(
    `Top-k attack (Ghorbani et al.): ε = ${o.epsilon} (L∞), step ${o.step}, ${o.steps} iterations, k = ${o.k}, gradients through the softplus(β = 10) surrogate, label-preserving iterates only. SmoothGrad σ = ${o.sigma}, Uniform Gradient cube radius ${o.radius}, ${o.samples} samples; IG ${o.igSteps} Gauss–Legendre points. Seed ${o.seed}; split seed ${o.splitSeed}. ${meta.seconds.toFixed(0)} s in all.`,
    '',
  );
  lines.push(
    '## Models',
    '',
    '| model | clean accuracy | PGD accuracy (from the record) | mean λ_max (GN input Hessian of CE) | training s/epoch |',
    '|---|---|---|---|---|',
  );
  for (const m of out.models) {
    lines.push(
      `| ${m.name} | ${(m.cleanAccuracy * 100).toFixed(2)}% | ${m.pgdAccuracy === null ? 'n/a' : `${(m.pgdAccuracy.robustAccuracy * 100).toFixed(2)}% (${pgdSetting(m.pgdAccuracy)})`} | ${m.lambdaMax.mean.toExponential(3)} ± ${m.lambdaMax.se.toExponential(1)} | ${m.secondsPerEpoch === null ? 'n/a' : m.secondsPerEpoch.toFixed(1)} |`,
    );
  }
  const table = (
    title: string,
    pick: (r: ExperimentOutput['results']['models'][number]['methods'][string]) => string,
  ) => {
    lines.push(
      '',
      `## ${title}`,
      '',
      `| method | ${out.models.map((m) => m.name).join(' | ')} |`,
      `|---|${out.models.map(() => '---').join('|')}|`,
    );
    for (const method of METHODS)
      lines.push(
        `| ${method} | ${out.models.map((m) => (m.methods[method] ? pick(m.methods[method]) : 'n/a')).join(' | ')} |`,
      );
  };
  table('Top-k intersection after the attack (higher is more robust; mean ± s.e.)', (r) => pm(r.topKIntersection));
  table('Kendall τ between the maps before and after (higher is more robust)', (r) => pm(r.kendallTau));
  table('Centre-of-mass dislocation in pixels (lower is more robust)', (r) => pm(r.centerOfMassDislocation, 2));
  table(
    'Attack success rate (a label-preserving iterate moved the map)',
    (r) => `${(r.successRate * 100).toFixed(0)}%`,
  );
  lines.push(
    '',
    "## Transfer (RQ3): the saliency attack's adversarial digits, explained by the smoothed methods (top-k intersection)",
    '',
    `| method | ${out.models.map((m) => m.name).join(' | ')} |`,
    `|---|${out.models.map(() => '---').join('|')}|`,
  );
  for (const method of ['smoothGrad', 'uniformGradient', 'integratedGradients'])
    lines.push(`| ${method} | ${out.models.map((m) => pm(m.transfer[method])).join(' | ')} |`);
  lines.push(
    '',
    '## Theorem 2: SmoothGrad of the softmax probability (F = 1) is Lipschitz with constant ≤ 2F/σ²',
    '',
    `SmoothGrad with σ = ${o.sigma} and ${o.lipschitzSamples} samples, the same noise at both points of a pair.`,
    '',
    '| model | worst ‖SG(x) − SG(x′)‖₂ / ‖x − x′‖₂ | bound 2/σ² | pairs (attack iterate, random in the ε-box, other digit) |',
    '|---|---|---|---|',
  );
  for (const m of out.models)
    lines.push(
      `| ${m.name} | ${m.theorem2.worstRatio.toFixed(4)} | ${m.theorem2.bound.toFixed(1)} | ${m.theorem2.pairs} |`,
    );
  lines.push(
    '',
    '## Top-k intersection against ε',
    '',
    `ε: ${out.models[0].curve.epsilons.join(', ')}. Figures \`topk-vs-epsilon-<model>.png\`: x = ε, y = top-k intersection in [0, 1]; red saliency, orange grad × input, blue SmoothGrad, green Uniform Gradient, purple IG.`,
    '',
  );
  lines.push(
    `| model | method | ${out.models[0].curve.epsilons.map((e) => `ε=${e}`).join(' | ')} |`,
    `|---|---|${out.models[0].curve.epsilons.map(() => '---').join('|')}|`,
  );
  for (const m of out.models)
    for (const method of METHODS)
      lines.push(`| ${m.name} | ${method} | ${m.curve.topK[method].map((v) => v.toFixed(3)).join(' | ')} |`);
  lines.push(
    '',
    'Maps before/after the attack for the first digit: `maps/<model>-<method>-{before,after,adversarial-digit}.png`; the clean digit: `digit.png`.',
    '',
  );
  return lines.join('\n');
}

/** The attack behind a recorded PGD accuracy, in words: 'ε = 0.3, 40 × 0.01, 2000 digits'. */
function pgdSetting(p: { attack: unknown; digits: number }): string {
  const a = (p.attack ?? {}) as { epsilon?: unknown; iterations?: unknown; step?: unknown };
  return `ε = ${String(a.epsilon)}, ${String(a.iterations)} × ${String(a.step)}, ${p.digits} digits`;
}
