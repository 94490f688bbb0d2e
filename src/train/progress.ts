import type { EpochRecord } from './train.js';

/** What training tells its progress display. */
export interface ProgressReporter {
  start(epoch: number, epochs: number): void;
  update(step: number, loss: number, accuracy: number, lambdaMax?: number): void;
  stop(rec: EpochRecord): void;
}

const silent: ProgressReporter = { start() {}, update() {}, stop() {} };

/**
 * A cli-progress bar on stderr (loss, accuracy, λ for SSR, elapsed time and ETA), or nothing when off. The
 * package is loaded only when a bar is wanted, so browsers and pipes never touch it.
 */
export async function progressReporter(on: boolean, stepsPerEpoch: number): Promise<ProgressReporter> {
  if (!on) return silent;
  const { default: cliProgress } = await import('cli-progress');
  let bar: InstanceType<typeof cliProgress.SingleBar> | null = null;
  return {
    start(epoch, epochs) {
      bar = new cliProgress.SingleBar(
        {
          format: `epoch ${epoch + 1}/${epochs} {bar} {value}/{total} steps | loss {loss} | acc {acc} {extra}| {duration_formatted} (eta {eta_formatted})`,
          stream: process.stderr,
          hideCursor: false,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(stepsPerEpoch, 0, { loss: '-', acc: '-', extra: '' });
    },
    update(step, loss, accuracy, lambdaMax) {
      bar?.update(step, {
        loss: loss.toFixed(4),
        acc: accuracy.toFixed(4),
        extra: lambdaMax === undefined ? '' : `| λmax ${lambdaMax.toFixed(4)} `,
      });
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
