import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ACCEL_CACHE_FILE,
  DEFAULT_PROBE_TIMEOUT_MS,
  type KvmVerdict,
  PROBE_EXIT_CODE,
  probeAccelerator,
  probeBootSector,
  resolveAccelerator,
} from './accel';
import { readQemuInfo } from './qemu-info';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vireo-accel-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A "QEMU" that runs the real one with TCG whatever accelerator it is asked for: a KVM that works. */
async function qemuWithWorkingKvm(): Promise<string> {
  const path = join(dir, 'qemu-kvm-is-tcg');
  await writeFile(
    path,
    '#!/bin/sh\nfor a in "$@"; do shift; [ "$a" = kvm ] && a=tcg; set -- "$@" "$a"; done\nexec qemu-system-x86_64 "$@"\n',
    { mode: 0o755 },
  );
  return path;
}

/** An accessible stand-in for /dev/kvm, so `auto` goes on to probe. */
async function fakeKvmDevice(): Promise<string> {
  const path = join(dir, 'kvm');
  await writeFile(path, '', { mode: 0o600 });
  return path;
}

function probeDirs(): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith('vireo-accel-probe-'));
}

describe('the probe guest', () => {
  it('is a 512-byte boot sector with the BIOS signature', () => {
    const sector = probeBootSector();
    expect(sector).toHaveLength(512);
    expect([sector[510], sector[511]]).toEqual([0x55, 0xaa]);
  });

  it('runs under TCG to its exit port, and leaves no file behind', async () => {
    const before = probeDirs();
    const result = await probeAccelerator('tcg');
    expect(result).toMatchObject({ accel: 'tcg', ok: true });
    expect(result.reason).toMatch(/ran under tcg/);
    expect(result.elapsedMs).toBeLessThan(DEFAULT_PROBE_TIMEOUT_MS);
    // Only dirs this probe made count: another test file may be probing at the same time.
    expect(probeDirs().filter((name) => !before.includes(name))).toEqual([]);
    expect(PROBE_EXIT_CODE).toBe(99);
  });

  it('kills a guest that overruns its deadline', async () => {
    const result = await probeAccelerator('tcg', { timeoutMs: 1 });
    expect(result.ok).toBe(false);
    expect(result.reason).toMatch(/did not finish within 1 ms under tcg \(killed\)/);
  });

  it('reports a QEMU that cannot start as a verdict, not an exception', async () => {
    const result = await probeAccelerator('tcg', { qemuBinary: join(dir, 'no-such-qemu') });
    expect(result).toMatchObject({ ok: false });
    expect(result.reason).toMatch(/cannot run/);
  });
});

describe('resolveAccelerator', () => {
  it('tcg never probes', async () => {
    const resolution = await resolveAccelerator('tcg', { stateDir: dir, kvmDevice: await fakeKvmDevice() });
    expect(resolution).toMatchObject({ accel: 'tcg', kvm: { probed: false } });
    await expect(stat(join(dir, ACCEL_CACHE_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('kvm is refused when the device cannot be opened', async () => {
    await expect(
      resolveAccelerator('kvm', { stateDir: dir, kvmDevice: join(dir, 'missing-kvm') }),
    ).rejects.toMatchObject({ code: 'unsupported' });
    expect(
      await resolveAccelerator('kvm', { stateDir: dir, kvmDevice: await fakeKvmDevice() }),
    ).toMatchObject({
      accel: 'kvm',
      kvm: { probed: false },
    });
  });

  it('auto without a KVM device falls back to TCG without probing', async () => {
    const resolution = await resolveAccelerator('auto', {
      stateDir: dir,
      kvmDevice: join(dir, 'missing-kvm'),
    });
    expect(resolution).toMatchObject({ accel: 'tcg', kvm: { usable: false, probed: false } });
    expect(resolution.reason).toMatch(/does not exist/);
  });

  it('auto picks KVM when the probe guest runs under it, and caches the verdict (0600)', async () => {
    const qemuBinary = await qemuWithWorkingKvm();
    const kvmDevice = await fakeKvmDevice();
    const first = await resolveAccelerator('auto', { stateDir: dir, kvmDevice, qemuBinary });
    expect(first).toMatchObject({ accel: 'kvm', kvm: { usable: true, probed: true, cached: false } });
    const file = join(dir, ACCEL_CACHE_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const verdict = JSON.parse(await readFile(file, 'utf8')) as KvmVerdict;
    expect(verdict).toMatchObject({
      usable: true,
      kernel_release: release(),
      qemu_version: (await readQemuInfo(qemuBinary)).version,
    });
    const second = await resolveAccelerator('auto', { stateDir: dir, kvmDevice, qemuBinary });
    expect(second).toMatchObject({ accel: 'kvm', kvm: { cached: true } });
  });

  it('auto trusts a cached verdict only for the same kernel and QEMU', async () => {
    const kvmDevice = await fakeKvmDevice();
    const file = join(dir, ACCEL_CACHE_FILE);
    const key = { kernel_release: release(), qemu_version: (await readQemuInfo()).version, probe_version: 1 };
    const cached = { ...key, usable: false, reason: 'cached: KVM hung', elapsed_ms: 3000, probed_at: 'x' };
    await writeFile(file, JSON.stringify(cached), { mode: 0o600 });
    const fromCache = await resolveAccelerator('auto', { stateDir: dir, kvmDevice });
    expect(fromCache).toMatchObject({ accel: 'tcg', kvm: { cached: true, reason: 'cached: KVM hung' } });

    // A verdict from another kernel must not be believed: the real probe runs (with a QEMU whose
    // "KVM" works) and replaces it.
    await writeFile(file, JSON.stringify({ ...cached, kernel_release: 'some-other-kernel' }), {
      mode: 0o600,
    });
    const reprobed = await resolveAccelerator('auto', {
      stateDir: dir,
      kvmDevice,
      qemuBinary: await qemuWithWorkingKvm(),
    });
    expect(reprobed).toMatchObject({ accel: 'kvm', kvm: { cached: false, probed: true } });
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({
      kernel_release: release(),
      usable: true,
    });
  });

  it(
    'auto on this host returns a verdict within the probe deadline (without assuming KVM works)',
    async () => {
      const started = Date.now();
      const resolution = await resolveAccelerator('auto', { stateDir: dir });
      const elapsed = Date.now() - started;
      // Deadline + QEMU start-up and clean-up on a busy machine.
      expect(elapsed).toBeLessThan(DEFAULT_PROBE_TIMEOUT_MS + 5_000);
      expect(resolution.accel).toBe(resolution.kvm.usable ? 'kvm' : 'tcg');
      console.info(
        `accel probe on this host: ${resolution.accel} after ${elapsed} ms (${resolution.reason})`,
      );
    },
    DEFAULT_PROBE_TIMEOUT_MS + 20_000,
  );
});
