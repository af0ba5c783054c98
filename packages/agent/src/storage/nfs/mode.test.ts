import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { describe, expect, it } from 'vitest';
import { detectNfsMode } from './mode';

describe('nfs mode detection', () => {
  it('honours a forced mode and ignores anything else as an override', async () => {
    expect(await detectNfsMode('kernel')).toMatchObject({
      mode: 'kernel',
      reason: expect.stringMatching(/forced/),
    });
    expect(await detectNfsMode('userspace')).toMatchObject({ mode: 'userspace' });
    expect((await detectNfsMode('bogus')).reason).not.toMatch(/forced/);
  });

  it('picks kernel mode exactly when the kernel has the client and mount.nfs exists', async () => {
    const fs = readFileSync('/proc/filesystems', 'utf8');
    const modDir = `/lib/modules/${release()}/kernel/fs/nfs`;
    const kernel =
      /\tnfs4?\n/.test(`${fs}\n`) ||
      (existsSync(modDir) && readdirSync(modDir).some((f) => /^nfs\.ko/.test(f)));
    const helper = existsSync('/sbin/mount.nfs') || existsSync('/usr/sbin/mount.nfs');
    const probe = await detectNfsMode(undefined);
    expect(probe.mode).toBe(kernel && helper ? 'kernel' : 'userspace');
    expect(probe.reason.length).toBeGreaterThan(0);
  });
});
