// `vireo vm …` and `vireo host …` as a user runs them: child processes against a real engine
// (real PostgreSQL, real TLS). No host is enrolled here, so power actions meet the scheduler's
// refusal; the VM lifecycle on a real host is covered by the engine's e2e tests.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type EngineProcess, startEngine } from '../support/engine';
import { runCli } from './support/cli';

let engine: EngineProcess;
let home: string;
const cli = (args: string[], opts?: Parameters<typeof runCli>[2]) => runCli(args, home, opts);

beforeAll(async () => {
  engine = await startEngine();
  home = mkdtempSync(join(tmpdir(), 'vireo-cli-vm-test-'));
  const fingerprint = new X509Certificate(engine.caPem).fingerprint256;
  const login = await cli(
    ['login', engine.url, '-u', 'admin@internal', '--password-stdin', '--accept-ca-fingerprint', fingerprint],
    { input: `${engine.adminPassword}\n` },
  );
  expect(login.code, login.stderr).toBe(0);
});

afterAll(async () => {
  await engine?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('vireo vm', () => {
  let vmId: string;

  it('creates a VM from flags and lists it as table, json and yaml', async () => {
    const flags = [
      '--cluster',
      'Default',
      '--cpus',
      '2',
      '--memory',
      '256',
      '--os-type',
      'other_linux',
      '--boot',
      'cdrom,disk',
      '--nic',
      'user',
      '--nic',
      'user:52:54:00:12:34:56',
      '-o',
      'json',
    ];
    // Disks need an active data domain, and this engine has none (no host, no domain).
    const noDomain = await cli(['vm', 'create', 'cli-vm-1', ...flags, '--disk', '1', '--disk', '2:raw:scsi']);
    expect(noDomain.code).not.toBe(0);
    expect(noDomain.stderr).toContain('no_data_domain');
    const created = await cli(['vm', 'create', 'cli-vm-1', ...flags, '--cdrom', 'boot.iso']);
    expect(created.code, created.stderr).toBe(0);
    const vm = JSON.parse(created.stdout);
    vmId = vm.id;
    expect(vm).toMatchObject({
      name: 'cli-vm-1',
      state: 'down',
      cpus: 2,
      memory_mib: 256,
      os_type: 'other_linux',
      boot_order: ['cdrom', 'disk'],
      disks: [],
      nics: [expect.objectContaining({ type: 'user' }), { type: 'user', mac: '52:54:00:12:34:56' }],
    });

    const table = await cli(['vm', 'list']);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+ID\s+STATE\s+CPUS\s+MEMORY\s+HOST$/);
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^cli-vm-1\\s+${vmId}\\s+down\\s+2\\s+256 MiB\\s+-$`)),
    );

    const json = await cli(['vm', 'list', '-o', 'json', '--cluster', 'Default']);
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ id: vmId, name: 'cli-vm-1' })]);
    const yaml = await cli(['vm', 'ls', '--output', 'yaml']);
    expect(parseYaml(yaml.stdout)).toEqual([expect.objectContaining({ id: vmId, state: 'down' })]);
  });

  it('refuses malformed hardware flags before any request, as usage errors', async () => {
    for (const flags of [
      ['--disk', '0'],
      ['--disk', '1:vmdk'],
      ['--boot', 'floppy'],
      ['--nic', 'bridge'],
    ]) {
      const r = await cli(['vm', 'create', 'bad', '--cluster', 'Default', ...flags]);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^Error \[usage_error\]: /m);
    }
    const none = await cli(['vm', 'list', '-o', 'json', '--search', 'bad']);
    expect(JSON.parse(none.stdout)).toEqual([]);
  });

  it('shows by name and id, updates with If-Match, completes VM names', async () => {
    const byName = await cli(['vm', 'show', 'cli-vm-1', '-o', 'json']);
    expect(byName.code, byName.stderr).toBe(0);
    const byId = await cli(['vm', 'get', vmId, '-o', 'json']);
    expect(JSON.parse(byId.stdout)).toEqual(JSON.parse(byName.stdout));

    const upd = await cli([
      'vm',
      'update',
      'cli-vm-1',
      '--name',
      'cli-vm-2',
      '--memory',
      '512',
      '--boot',
      'cdrom',
      '-o',
      'yaml',
    ]);
    expect(upd.code, upd.stderr).toBe(0);
    expect(parseYaml(upd.stdout)).toMatchObject({
      id: vmId,
      name: 'cli-vm-2',
      memory_mib: 512,
      boot_order: ['cdrom'],
    });

    const nothing = await cli(['vm', 'update', 'cli-vm-2']);
    expect(nothing.code).toBe(2);

    const completed = await cli(['__complete', '--', 'vm', 'show', 'cli-vm']);
    expect(completed.stdout.split('\n')).toContain('cli-vm-2');

    const missing = await cli(['vm', 'show', 'cli-vm-1']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^Error \[vm_not_found\]: /m);
  });

  it('reports the scheduler refusal of a power action with its code and exit 1', async () => {
    const r = await cli(['vm', 'start', 'cli-vm-2', '--wait']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error \[no_host_available\]: no host of the cluster can run VM cli-vm-2/m);
    const after = await cli(['vm', 'show', 'cli-vm-2', '-o', 'json']);
    expect(JSON.parse(after.stdout)).toMatchObject({ state: 'down', desired_state: 'down' });
    // A console needs a running VM: the engine's refusal comes through the same way.
    const con = await cli(['vm', 'console', 'cli-vm-2', '--serial'], { input: '' });
    expect(con.code).not.toBe(0);
    expect(con.stderr).toMatch(/^Error \[[a-z_]+\]: /m);
  });

  it('deletes a VM with --wait and it is gone', async () => {
    const r = await cli(['vm', 'delete', 'cli-vm-2', '--wait']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('deleted VM cli-vm-2');
    const list = await cli(['vm', 'list', '-o', 'json']);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });
});

describe('vireo host', () => {
  it('lists no hosts on a fresh engine, in every format', async () => {
    const table = await cli(['host', 'list']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^NAME\s+ID\s+STATE\s+ADDRESS\s+REASON$/),
    ]);
    expect(JSON.parse((await cli(['host', 'list', '-o', 'json', '--cluster', 'Default'])).stdout)).toEqual(
      [],
    );
    expect(parseYaml((await cli(['host', 'list', '-o', 'yaml'])).stdout)).toEqual([]);
    const missing = await cli(['host', 'show', 'nope']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^Error \[host_not_found\]: /m);
  });

  it('makes a join token for a cluster and says how to use it', async () => {
    const r = await cli(['host', 'join-token', '--cluster', 'Default', '--ttl', '600', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const token = JSON.parse(r.stdout);
    const fp = new X509Certificate(engine.caPem).fingerprint256.replace(/:/g, '').toLowerCase();
    expect(token.ca_fingerprint.replace(/[^0-9a-fA-F]/g, '').toLowerCase()).toBe(fp);
    expect(token.token.length).toBeGreaterThanOrEqual(16);
    const ttl = Date.parse(token.expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(500_000);
    expect(ttl).toBeLessThanOrEqual(600_000);
    expect(r.stderr).toContain(`vireo-agent join --engine ${new URL(engine.url).origin} --token-stdin`);
    expect(r.stderr).not.toContain(token.token);

    const noCluster = await cli(['host', 'join-token']);
    expect(noCluster.code).toBe(2);
  });

  it('host add wants exactly one SSH secret and never takes it from the command line', async () => {
    const base = [
      'host',
      'add',
      'h1',
      '--address',
      '127.0.0.1',
      '--cluster',
      'Default',
      '--ssh-user',
      'root',
    ];
    const neither = await cli(base);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('exactly one of --ssh-password-stdin and --ssh-key');
    const both = await cli([...base, '--ssh-password-stdin', '--ssh-key', '/nonexistent'], { input: 'pw\n' });
    expect(both.code).toBe(2);
    const unreadable = await cli([...base, '--ssh-key', '/nonexistent/key']);
    expect(unreadable.code).toBe(2);
    expect(unreadable.stderr).toMatch(/^Error \[file_unreadable\]: /m);
  });
});
