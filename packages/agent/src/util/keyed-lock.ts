interface Holder {
  action: string;
  controller: AbortController;
  released: Promise<void>;
}

export interface KeyedLockRunOptions {
  /** Queue behind the holder instead of failing. */
  wait?: boolean;
  /**
   * Actions this one may cancel: their signal is aborted and this one waits for them to let go.
   * (`vm.stop` preempts a `vm.shutdown` that is still waiting for the guest.)
   */
  preempts?: readonly string[];
}

/**
 * One holder per key at a time (one mutating action per VM). By default a second caller fails at
 * once with the error `onBusy` builds, so the engine learns that something else is under way rather
 * than piling up calls; callers that must go through either wait or preempt a cancellable holder.
 * Holders receive an `AbortSignal`, aborted when a preempting action arrives.
 */
export class KeyedLock {
  private readonly holders = new Map<string, Holder>();

  constructor(private readonly onBusy: (key: string, holder: string, wanted: string) => Error) {}

  /** The action holding `key`, if any. */
  holder(key: string): string | undefined {
    return this.holders.get(key)?.action;
  }

  /** How many keys are held right now. */
  get size(): number {
    return this.holders.size;
  }

  async run<T>(
    key: string,
    action: string,
    fn: (signal: AbortSignal) => Promise<T>,
    options: KeyedLockRunOptions = {},
  ): Promise<T> {
    for (;;) {
      const current = this.holders.get(key);
      if (!current) break;
      const preempt = options.preempts?.includes(current.action) ?? false;
      if (!preempt && !options.wait) throw this.onBusy(key, current.action, action);
      if (preempt && !current.controller.signal.aborted) {
        current.controller.abort(new Error(`${current.action} cancelled by ${action}`));
      }
      await current.released;
      // Loop: another waiter may have taken the key first.
    }
    let release!: () => void;
    const holder: Holder = {
      action,
      controller: new AbortController(),
      released: new Promise<void>((resolve) => {
        release = resolve;
      }),
    };
    this.holders.set(key, holder);
    try {
      return await fn(holder.controller.signal);
    } finally {
      this.holders.delete(key);
      release();
    }
  }
}
