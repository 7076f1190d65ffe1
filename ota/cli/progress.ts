import type { Clock } from '../../core/clock.js';

/**
 * A progress bar on standard error, drawn only when standard error is a terminal (never in a pipe,
 * a log or a test), redrawn at most every 100 ms, finished with a newline.
 */

/** `label [#########---------]  45%  45.0/100.0 MB`. Pure. */
export function renderBar(label: string, done: number, total: number, width = 30): string {
  const fraction = total <= 0 ? 1 : Math.min(1, Math.max(0, done / total));
  const filled = Math.round(fraction * width);
  const mb = (n: number): string => (n / 1_000_000).toFixed(1);
  return `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${mb(done)}/${mb(total)} MB`;
}

export interface Progress {
  update(done: number, total: number): void;
  finish(): void;
}

const NONE: Progress = { update: () => undefined, finish: () => undefined };

export function progressBar(stream: NodeJS.WritableStream, label: string, clock: Clock): Progress {
  if ((stream as { isTTY?: boolean }).isTTY !== true) return NONE;
  let last = -Infinity;
  let drawn = false;
  let latest: [number, number] = [0, 0];
  const draw = (): void => {
    stream.write(`\r${renderBar(label, latest[0], latest[1])}`);
    drawn = true;
  };
  return {
    update(done, total) {
      latest = [done, total];
      const now = clock.monotonic();
      if (now - last < 100 && done < total) return;
      last = now;
      draw();
    },
    finish() {
      if (drawn) {
        draw();
        stream.write('\n');
      }
    },
  };
}
