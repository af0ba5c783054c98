import { describe, expect, it } from 'vitest';
import { KeyedLock } from './keyed-lock';

const busy = (key: string, holder: string, wanted: string) => new Error(`busy:${key}:${holder}:${wanted}`);

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('KeyedLock', () => {
  it('refuses a second action on the same key at once, naming the holder', async () => {
    const lock = new KeyedLock(busy);
    const gate = deferred();
    const first = lock.run('vm1', 'vm.start', () => gate.promise);
    expect(lock.holder('vm1')).toBe('vm.start');
    await expect(lock.run('vm1', 'vm.pause', async () => 'never')).rejects.toThrow(
      'busy:vm1:vm.start:vm.pause',
    );
    gate.resolve();
    await first;
    expect(lock.holder('vm1')).toBeUndefined();
    await expect(lock.run('vm1', 'vm.pause', async () => 'ok')).resolves.toBe('ok');
  });

  it('lets different keys run concurrently', async () => {
    const lock = new KeyedLock(busy);
    const gate = deferred();
    const a = lock.run('vm1', 'vm.start', () => gate.promise.then(() => 'a'));
    const b = lock.run('vm2', 'vm.start', async () => 'b');
    await expect(b).resolves.toBe('b');
    expect(lock.size).toBe(1);
    gate.resolve();
    await expect(a).resolves.toBe('a');
    expect(lock.size).toBe(0);
  });

  it('releases the key when the action throws', async () => {
    const lock = new KeyedLock(busy);
    await expect(
      lock.run('vm1', 'vm.start', async () => {
        throw new Error('qemu failed');
      }),
    ).rejects.toThrow('qemu failed');
    expect(lock.holder('vm1')).toBeUndefined();
  });

  it('queues waiters in turn when asked to wait', async () => {
    const lock = new KeyedLock(busy);
    const order: string[] = [];
    const gate = deferred();
    const first = lock.run('vm1', 'a', async () => {
      await gate.promise;
      order.push('a');
    });
    const second = lock.run('vm1', 'b', async () => order.push('b'), { wait: true });
    const third = lock.run('vm1', 'c', async () => order.push('c'), { wait: true });
    gate.resolve();
    await Promise.all([first, second, third]);
    expect(order[0]).toBe('a');
    expect(order.slice(1).sort()).toEqual(['b', 'c']);
  });

  it('aborts a preemptible holder and runs after it let go', async () => {
    const lock = new KeyedLock(busy);
    const events: string[] = [];
    const shutdown = lock.run('vm1', 'vm.shutdown', (signal) => {
      return new Promise<string>((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          events.push('shutdown aborted');
          // The holder finishes its own clean-up before letting go.
          setTimeout(() => reject(new Error('cancelled')), 10);
        });
      });
    });
    const stop = lock.run(
      'vm1',
      'vm.stop',
      async () => {
        events.push('stop runs');
        return 'stopped';
      },
      { preempts: ['vm.shutdown'] },
    );
    await expect(shutdown).rejects.toThrow('cancelled');
    await expect(stop).resolves.toBe('stopped');
    expect(events).toEqual(['shutdown aborted', 'stop runs']);
  });

  it('does not preempt actions outside the list', async () => {
    const lock = new KeyedLock(busy);
    const gate = deferred();
    const start = lock.run('vm1', 'vm.start', (signal) => gate.promise.then(() => signal.aborted));
    await expect(lock.run('vm1', 'vm.stop', async () => 1, { preempts: ['vm.shutdown'] })).rejects.toThrow(
      'busy:vm1:vm.start:vm.stop',
    );
    gate.resolve();
    await expect(start).resolves.toBe(false);
  });
});
