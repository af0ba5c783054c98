import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { retryLuksBenchmark } from './qemu-img';

describe('LUKS header creations', () => {
  it('run at most one per core at a time, the rest wait their turn', async () => {
    const cores = Math.max(1, availableParallelism());
    let running = 0;
    let most = 0;
    const results = await Promise.all(
      Array.from({ length: cores * 3 + 1 }, (_, i) =>
        retryLuksBenchmark(async () => {
          running++;
          most = Math.max(most, running);
          await sleep(20);
          running--;
          return i;
        }),
      ),
    );
    expect(results).toEqual(Array.from({ length: cores * 3 + 1 }, (_, i) => i));
    expect(most).toBe(cores);
  });

  it('give the slot back when a try fails, and retry only the calibration flake', async () => {
    let tries = 0;
    await expect(
      retryLuksBenchmark(async () => {
        tries++;
        if (tries < 3) throw new Error('qemu-img: x.qcow2: Unable to get accurate CPU usage');
        throw new Error('qemu-img: x.qcow2: Invalid password');
      }),
    ).rejects.toThrow(/Invalid password/);
    expect(tries).toBe(3);
    // Every slot is free again: as many runs as cores start at once.
    const cores = Math.max(1, availableParallelism());
    let running = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: cores }, () =>
        retryLuksBenchmark(async () => {
          running++;
          most = Math.max(most, running);
          await sleep(20);
          running--;
        }),
      ),
    );
    expect(most).toBe(cores);
  });
});
