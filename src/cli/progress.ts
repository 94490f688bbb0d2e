/**
 * The commands' progress bar (cli-progress) on stderr: shown only when stderr is a terminal and --no-progress
 * was not given, and only once the work has lasted a second (checked at each step), so quick runs and pipes
 * print nothing extra.
 */
import cliProgress from 'cli-progress';

export interface CliProgress {
  /** Adds `n` units done (default 1), naming the stage now running. */
  tick(stage?: string, n?: number): void;
  /** Names the stage now running without counting a unit. */
  stage(stage: string): void;
  /** Clears the bar; call before printing results. */
  stop(): void;
}

/** How long work runs before its bar appears; SMOOTHGEO_PROGRESS_DELAY_MS overrides it (the tests set 0). */
function delayMs(): number {
  const v = process.env.SMOOTHGEO_PROGRESS_DELAY_MS;
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : 1000;
}

export function cliProgressBar(enabled: boolean, title: string, total: number): CliProgress {
  const on = enabled && process.stderr.isTTY === true;
  let done = 0,
    stage = '';
  let bar: cliProgress.SingleBar | null = null;
  const t0 = performance.now(),
    delay = delayMs();
  // Started from the calls, not a timer: the cpu backend's work never yields to the event loop's timers.
  const show = () => {
    if (bar || !on || performance.now() - t0 < delay) return;
    bar = new cliProgress.SingleBar(
      {
        format: `${title} {bar} {value}/{total} {stage} | {duration_formatted}`,
        stream: process.stderr,
        hideCursor: false,
        clearOnComplete: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, done, { stage });
  };
  return {
    tick(s, n = 1) {
      done += n;
      if (s !== undefined) stage = s;
      show();
      bar?.update(done, { stage });
    },
    stage(s) {
      stage = s;
      show();
      bar?.update(done, { stage });
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
