import { describe, expect, it } from 'vitest';
import { Reverter } from './reverter';

describe('Reverter', () => {
  it('runs the undos in reverse order when the sequence fails', async () => {
    const done: string[] = [];
    await expect(
      Reverter.run(async (r) => {
        r.add(() => done.push('undo dir'), 'dir');
        r.add(async () => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          done.push('undo tap');
        }, 'tap');
        r.add(() => done.push('undo qemu'), 'qemu');
        throw new Error('QMP connect failed');
      }),
    ).rejects.toThrow('QMP connect failed');
    expect(done).toEqual(['undo qemu', 'undo tap', 'undo dir']);
  });

  it('runs nothing after success', async () => {
    const done: string[] = [];
    const result = await Reverter.run(async (r) => {
      r.add(() => done.push('undo'));
      return 42;
    });
    expect(result).toBe(42);
    expect(done).toEqual([]);
  });

  it('keeps reverting when an undo fails and reports the failures', async () => {
    const done: string[] = [];
    const r = new Reverter();
    r.add(() => done.push('first'));
    r.add(() => {
      throw new Error('tap busy');
    });
    r.add(() => done.push('last'));
    const failures = await r.revert();
    expect(done).toEqual(['last', 'first']);
    expect(failures.map((f) => f.message)).toEqual(['tap busy']);
    // Idempotent: a second revert runs nothing.
    expect(await r.revert()).toEqual([]);
    expect(done).toEqual(['last', 'first']);
  });

  it('refuses new steps once finished', () => {
    const r = new Reverter();
    r.success();
    expect(() => r.add(() => undefined)).toThrow(/after success/);
  });
});
