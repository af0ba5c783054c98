import type { OutStream } from '../../framework/session';

const MiB = 1024 * 1024;

/** `12.5 MiB` style sizes for people. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < MiB) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${(n / (1024 * MiB)).toFixed(2)} GiB`;
}

/**
 * One line of progress: a bar on a terminal (redrawn at most 10 times a second), nothing when
 * stderr is not a terminal (scripts get the final object on stdout instead).
 */
export function progressBar(stream: OutStream, label: string) {
  const tty = Boolean(stream.isTTY);
  const started = Date.now();
  let last = 0;
  let drawn = false;
  const draw = (done: number, total: number) => {
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - 60));
    const filled = Math.round(fraction * width);
    const seconds = Math.max(0.001, (Date.now() - started) / 1000);
    const rate = `${formatBytes(Math.round(done / seconds))}/s`;
    stream.write(
      `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ` +
        `${formatBytes(done)}/${formatBytes(total)} ${rate}   `,
    );
    drawn = true;
  };
  return {
    update(done: number, total: number): void {
      if (!tty) return;
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      draw(done, total);
    },
    finish(): void {
      if (tty && drawn) stream.write('\n');
    },
  };
}
