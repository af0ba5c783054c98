import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAccelHelp, parseMachineHelp, parseQemuVersion, readQemuInfo } from './qemu-info';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

describe('QEMU output parsers', () => {
  it('reads the version and the distribution package', () => {
    expect(parseQemuVersion(fixture('qemu-7.2-version.txt'))).toEqual({
      version: '7.2.22',
      package: 'Debian 1:7.2+dfsg-7+deb12u18+b3',
    });
    expect(parseQemuVersion('QEMU emulator version 8.1.0\nCopyright…')).toEqual({
      version: '8.1.0',
      package: null,
    });
    expect(() => parseQemuVersion('bash: qemu: command not found')).toThrow(/unrecognised/);
  });

  it('reads machine types with aliases, the default and deprecations', () => {
    const types = parseMachineHelp(fixture('qemu-7.2-machine-help.txt'));
    const byName = new Map(types.map((t) => [t.name, t]));
    expect(types).toHaveLength(61);
    expect(byName.get('q35')).toEqual({
      name: 'q35',
      description: 'Standard PC (Q35 + ICH9, 2009)',
      alias_of: 'pc-q35-7.2',
      is_default: false,
      deprecated: false,
    });
    expect(byName.get('pc-i440fx-7.2')).toMatchObject({ is_default: true, alias_of: null });
    expect(byName.get('pc-i440fx-1.4')).toMatchObject({
      deprecated: true,
      description: 'Standard PC (i440FX + PIIX, 1996)',
    });
    // A parenthesis that is not a marker stays in the description.
    expect(byName.get('microvm')?.description).toBe('microvm (i386)');
    expect(types.filter((t) => t.is_default)).toHaveLength(1);
    expect(byName.has('Supported')).toBe(false);
  });

  it('reads the built-in accelerators', () => {
    expect(parseAccelHelp(fixture('qemu-7.2-accel-help.txt'))).toEqual(['tcg', 'kvm']);
  });
});

describe('readQemuInfo (this machine)', () => {
  it('asks the installed QEMU once and agrees with it', async () => {
    const info = await readQemuInfo('qemu-system-x86_64');
    const versionLine = execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).split(
      '\n',
    )[0];
    expect(versionLine).toContain(info.version);
    expect(info.machineTypes.map((t) => t.name)).toEqual(expect.arrayContaining(['pc', 'q35']));
    expect(info.accelerators).toContain('tcg');
    expect(await readQemuInfo('qemu-system-x86_64')).toBe(info);
  });

  it('reports a missing binary as qemu_failed and does not cache the failure', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vireo-qemu-info-'));
    try {
      const binary = join(dir, 'qemu-system-x86_64');
      await expect(readQemuInfo(binary)).rejects.toMatchObject({ code: 'qemu_failed' });
      // The binary appears (package installed): the next call must ask again, not replay the failure.
      await writeFile(binary, '#!/bin/sh\nexec qemu-system-x86_64 "$@"\n', { mode: 0o755 });
      expect((await readQemuInfo(binary)).machineTypes.length).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
