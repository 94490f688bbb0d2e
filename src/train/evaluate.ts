import type { Dataset } from '../data/mnist.js';
import { fail } from '../errors.js';
import type { Model } from '../graph/model.js';

/** Accuracy and predictions of the model on a dataset, in batches of `batchSize` (one call each). */
export async function evaluateAccuracy(
  model: Model,
  data: Pick<Dataset, 'x' | 'labels'>,
  options: { batchSize?: number } = {},
): Promise<{ accuracy: number; predictions: number[] }> {
  const batchSize = options.batchSize ?? 250;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    fail('INVALID_ARGUMENT', `evaluateAccuracy: batchSize must be an integer >= 1, got ${JSON.stringify(batchSize)}`);
  const N = data.x.shape[0],
    per = data.x.data.length / N,
    K = model.classes;
  const predictions: number[] = [];
  for (let s = 0; s < N; s += batchSize) {
    const n = Math.min(batchSize, N - s);
    const logits = await model.forward({
      shape: [n, ...data.x.shape.slice(1)],
      data: data.x.data.subarray(s * per, (s + n) * per),
    });
    for (let b = 0; b < n; b++) {
      let arg = 0;
      for (let k = 1; k < K; k++) if (logits.data[b * K + k] > logits.data[b * K + arg]) arg = k;
      predictions.push(arg);
    }
  }
  const correct = predictions.filter((p, i) => p === data.labels[i]).length;
  return { accuracy: correct / N, predictions };
}
