// `vireo host show` against a real engine with one real agent enrolled: the two storage lines
// come from what that agent reported (agent → engine → API → CLI), in the words the docs promise.
// The wording of every case (kernel, userspace, nothing reported) is unit-tested next to the
// command (packages/cli/src/commands/host/show.test.ts); this host is whatever the machine is.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Json, type Platform, startPlatform } from '../support/platform';
import { loginCli, runCli } from './support/cli';

let platform: Platform;
let home: string;

beforeAll(async () => {
  platform = await startPlatform({ prefix: 'vireo-cli-host-storage-', hostName: 'caps-host' });
  home = mkdtempSync(join(tmpdir(), 'vireo-cli-host-storage-home-'));
  const login = await loginCli(home, platform.engine);
  expect(login.code, login.stderr).toBe(0);
}, 180_000);

afterAll(async () => {
  await platform?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('vireo host show: storage abilities of an enrolled host', () => {
  it('prints NFS access and template sealing as the agent reported them; -o json keeps the raw fields', async () => {
    const host = (await platform.api.call('GET', `/hosts/${platform.hostId}`)).json as Json;
    const storage = host.capabilities?.storage as Json | undefined;
    // This session's agents all report both.
    expect(storage?.nfs).toEqual({
      mode: expect.stringMatching(/^(kernel|userspace)$/),
      reason: expect.any(String),
    });
    expect(storage?.seal).toEqual({ available: expect.any(Boolean), reason: expect.any(String) });

    const shown = await runCli(['host', 'show', 'caps-host'], home);
    expect(shown.code, shown.stderr).toBe(0);
    const lines = shown.stdout.trimEnd().split('\n');
    const how = storage?.nfs.mode === 'kernel' ? 'kernel client' : "QEMU's built-in NFS driver (userspace)";
    expect(lines.at(-2)).toBe(`NFS access:        ${how} — ${storage?.nfs.reason}`);
    expect(lines.at(-1)).toBe(
      storage?.seal.available
        ? `Template sealing:  available — ${storage?.seal.reason}`
        : `Template sealing:  unavailable: ${storage?.seal.reason}`,
    );
    expect(lines).toContainEqual(
      expect.stringMatching(/^capabilities\.storage\.nfs\.mode\s+(kernel|userspace)$/),
    );

    const json = await runCli(['host', 'show', platform.hostId, '-o', 'json'], home);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout).capabilities.storage).toEqual(storage);
    expect(json.stdout).not.toContain('NFS access:');
  }, 60_000);
});
