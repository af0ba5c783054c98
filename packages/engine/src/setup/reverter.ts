/**
 * Collects undo steps for a multi-step side effect and runs them, newest first, unless the whole
 * sequence succeeded (design.md convention 6). Undo failures are reported, never thrown, so the
 * original error reaches the caller.
 */
export class Reverter {
  private undos: Array<{ what: string; undo: () => unknown }> = [];
  private done = false;

  /** Registers how to undo a step that has just succeeded. */
  add(what: string, undo: () => unknown): void {
    this.undos.push({ what, undo });
  }

  /** Marks the sequence complete: nothing will be undone. */
  success(): void {
    this.done = true;
    this.undos = [];
  }

  /** Undoes every registered step (newest first) unless success() was called. */
  async revert(onError?: (what: string, err: unknown) => void): Promise<void> {
    if (this.done) return;
    const steps = this.undos.reverse();
    this.undos = [];
    for (const s of steps) {
      try {
        await s.undo();
      } catch (err) {
        onError?.(s.what, err);
      }
    }
  }
}
