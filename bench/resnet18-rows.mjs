// The ResNet-18 rows of the benches (bench/resnet18.mjs alone, bench/run.mjs beside LeNet and the MLP): the
// torchvision architecture at 1×3×S×S with random weights; forward, input gradient and input HVP of the
// target logit, and SmoothGrad with 16 samples within a 256 MiB activation budget (maxBytes). Each row: the
// median seconds of `repeats` timed calls (after one untimed warm-up call unless warmup is false) and the
// engine's peak memory during them (engine.memory().peakBytes after resetPeakMemory(): the pool's buffers,
// weights included; null on cpu).
import { randomWeights, resnet18Spec, weightShapes } from './resnet18-spec.mjs';

export const RESNET_ROWS = ['forward', 'gradient', 'hvp', 'smoothgrad'];
export const SMOOTHGRAD_MAX_BYTES = 256 * 1024 * 1024;

/**
 * @param {any} sg the smoothgeo module
 * @param {any} engine
 * @param {{ size?: number, repeats?: number, only?: string[], warmup?: boolean | string[], log?: (s: string) => void }} o
 *   warmup: every row (true), none (false) or the rows named
 */
export async function resnet18Rows(sg, engine, o = {}) {
  const S = o.size ?? 224,
    repeats = o.repeats ?? 1,
    wanted = new Set(o.only ?? RESNET_ROWS),
    warm = o.warmup ?? true;
  const warmup = (/** @type {string} */ key) => (Array.isArray(warm) ? warm.includes(key) : warm);
  const spec = resnet18Spec(S);
  const model = await sg.loadModel(engine, spec, sg.encodeSafetensors(randomWeights(weightShapes(spec))));
  let a = 7;
  const r = () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 2 ** 32;
  };
  const d = 3 * S * S;
  const x = { shape: [1, 3, S, S], data: Float32Array.from({ length: d }, r) };
  const v = { shape: [1, 3, S, S], data: Float32Array.from({ length: d }, () => r() - 0.5) };
  const target = [0];
  const objective = { kind: 'logit', target };
  /** @type {{ key: string, name: string, seconds: number, peakMiB: number | null, chunks?: number }[]} */
  const rows = [];
  /** @param {string} key @param {string} name @param {() => Promise<any>} fn */
  const time = async (key, name, fn) => {
    if (!wanted.has(key)) return;
    if (warmup(key)) await fn(); // pipelines compiled, buffers pooled
    const ts = [];
    if (engine.memory()) engine.resetPeakMemory();
    let last;
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      last = await fn();
      ts.push((performance.now() - t0) / 1000);
    }
    ts.sort((p, q) => p - q);
    const mem = engine.memory();
    rows.push({
      key,
      name,
      seconds: ts[Math.floor(ts.length / 2)],
      peakMiB: mem ? mem.peakBytes / 2 ** 20 : null,
      ...(last?.chunks ? { chunks: last.chunks } : {}),
    });
    const row = rows.at(-1);
    o.log?.(
      `  ${name.padEnd(26)} ${row.seconds.toFixed(2).padStart(8)} s   peak ${row.peakMiB === null ? 'n/a (cpu)' : `${row.peakMiB.toFixed(1)} MiB`}${row.chunks ? `   (${row.chunks} chunks)` : ''}`,
    );
  };
  o.log?.(`ResNet-18, 1×3×${S}×${S}, ${Object.keys(model.parameters).length} parameter tensors`);
  await time('forward', 'forward', () => model.forward(x));
  await time('gradient', 'input gradient (logit)', () => model.inputGradient(x, objective));
  await time('hvp', 'input HVP (logit)', () => model.inputHvp(x, v, objective));
  await time('smoothgrad', 'SmoothGrad, 16 samples', () =>
    sg.smoothGrad(model, x, { target, sigma: 0.1, samples: 16, seed: 1, maxBytes: SMOOTHGRAD_MAX_BYTES }),
  );
  return { size: S, maxBytes: SMOOTHGRAD_MAX_BYTES, rows };
}
