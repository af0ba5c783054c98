import type { Logger } from 'pino';

type Undo = () => unknown;

/**
 * Collects undo steps of a multi-step side effect and runs them (last first) unless the whole
 * sequence succeeded. Use:
 *
 * ```ts
 * const r = new Reverter(log);
 * try {
 *   createDir(); r.add(() => removeDir(), 'remove state dir');
 *   …
 *   r.success();
 * } finally {
 *   await r.revert();   // no-op after success()
 * }
 * ```
 *
 * An undo that throws is logged and the rest still run: a half-reverted failure is better than a
 * fully leaked one, and the original error (not the undo's) is what the caller reports.
 */
export class Reverter {
  private steps: { undo: Undo; label: string }[] = [];
  private done = false;

  constructor(private readonly log?: Logger) {}

  /** Registers the undo of a step that has just succeeded. */
  add(undo: Undo, label = 'undo'): void {
    if (this.done) throw new Error('Reverter: add() after success() or revert()');
    this.steps.push({ undo, label });
  }

  /** The sequence completed: forget every undo. */
  success(): void {
    this.steps = [];
    this.done = true;
  }

  /** Runs the undos in reverse order; returns the errors of those that failed. Idempotent. */
  async revert(): Promise<Error[]> {
    const steps = this.steps.reverse();
    this.steps = [];
    this.done = true;
    const failures: Error[] = [];
    for (const { undo, label } of steps) {
      try {
        await undo();
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        failures.push(error);
        this.log?.warn({ err: error, step: label }, 'revert step failed');
      }
    }
    return failures;
  }

  /** Runs `fn` with a fresh Reverter: success() when it returns, revert() when it throws. */
  static async run<T>(fn: (r: Reverter) => Promise<T>, log?: Logger): Promise<T> {
    const r = new Reverter(log);
    try {
      const result = await fn(r);
      r.success();
      return result;
    } finally {
      await r.revert();
    }
  }
}
