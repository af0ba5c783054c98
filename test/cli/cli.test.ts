// The `vireo` CLI as a user runs it: a child process against a real engine (real PostgreSQL,
// real TLS with the engine's own CA), with its own config directory.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTlsFixture } from '../../packages/client/test/support/tls-fixture';
import { type EngineProcess, startEngine } from '../support/engine';
import { defineShellTests } from './shell-suite';
import { runCli, spawnCli } from './support/cli';

let engine: EngineProcess;
let home: string;
let fingerprint: string;
const cli = (args: string[], opts?: Parameters<typeof runCli>[2]) => runCli(args, home, opts);

beforeAll(async () => {
  engine = await startEngine();
  home = mkdtempSync(join(tmpdir(), 'vireo-cli-test-'));
  fingerprint = new X509Certificate(engine.caPem).fingerprint256;
});

afterAll(async () => {
  await engine?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

describe('vireo login', () => {
  it('will not trust the CA without a confirmation it can get', async () => {
    const r = await cli(['login', engine.url, '-u', 'admin@internal', '--password-stdin'], { input: 'x\n' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`SHA-256 fingerprint: ${fingerprint}`);
    expect(r.stderr).toMatch(/Error \[ca_confirmation_required\]/);
  });

  it('refuses a CA whose fingerprint is not the expected one', async () => {
    const wrong = `SHA256:${'ab'.repeat(32)}`;
    const r = await cli(
      ['login', engine.url, '-u', 'admin@internal', '--password-stdin', '--accept-ca-fingerprint', wrong],
      {
        input: `${engine.adminPassword}\n`,
      },
    );
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/^Error \[ca_fingerprint_mismatch\]: /m);
  });

  it('reports wrong credentials as an auth error without echoing the password', async () => {
    const r = await cli(
      [
        'login',
        engine.url,
        '-u',
        'admin@internal',
        '--password-stdin',
        '--accept-ca-fingerprint',
        fingerprint,
      ],
      {
        input: 'not-the-password-1234\n',
      },
    );
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^Error \[invalid_credentials\]: /m);
    expect(r.stderr + r.stdout).not.toContain('not-the-password-1234');
  });

  it('logs in with --password-stdin and stores token and CA privately', async () => {
    const r = await cli(
      [
        'login',
        engine.url,
        '--username',
        'admin@internal',
        '--password-stdin',
        '--accept-ca-fingerprint',
        fingerprint.replace(/:/g, '').toLowerCase(),
      ],
      { input: `${engine.adminPassword}\n` },
    );
    expect(r.stderr).toContain('Logged in to');
    expect(r.code).toBe(0);
    const dir = join(home, 'vireo');
    expect(mode(dir)).toBe(0o700);
    for (const f of ['config.json', 'profiles/default/token', 'profiles/default/ca.pem'])
      expect(mode(join(dir, f))).toBe(0o600);
    expect(readFileSync(join(dir, 'profiles/default/ca.pem'), 'utf8')).toBe(engine.caPem);
    for (const f of ['config.json', 'profiles/default/token']) {
      expect(readFileSync(join(dir, f), 'utf8')).not.toContain(engine.adminPassword!);
    }
    const who = await cli(['whoami', '-o', 'json']);
    expect(who.code).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ username: 'admin@internal', profile: 'default' });
  });
  it('keeps named profiles: --ca-file login, list, VIREO_PROFILE, use, remove', async () => {
    const caFile = join(engine.dataDir, 'pki', 'ca.pem');
    const r = await cli(
      [
        'login',
        engine.url,
        '--profile',
        'second',
        '--ca-file',
        caFile,
        '-u',
        'admin@internal',
        '--password-stdin',
      ],
      {
        input: `${engine.adminPassword}\n`,
      },
    );
    expect(r.code).toBe(0);
    const list = await cli(['profile', 'list', '-o', 'json']);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ name: 'default', current: false, logged_in: true }),
      expect.objectContaining({
        name: 'second',
        current: true,
        logged_in: true,
        ca_fingerprint: fingerprint,
      }),
    ]);
    const viaEnv = await cli(['whoami', '-o', 'json'], { env: { VIREO_PROFILE: 'default' } });
    expect(JSON.parse(viaEnv.stdout).profile).toBe('default');
    expect((await cli(['profile', 'use', 'default'])).code).toBe(0);
    const token = readFileSync(join(home, 'vireo/profiles/second/token'), 'utf8').trim();
    expect((await cli(['profile', 'remove', 'second'])).code).toBe(0);
    expect(readdirSync(join(home, 'vireo/profiles'))).toEqual(['default']);
    const { VireoClient } = await import('@vireo/client');
    const client = new VireoClient({ baseUrl: engine.url, ca: engine.caPem, token });
    try {
      await expect(client.whoami()).rejects.toMatchObject({ status: 401 });
    } finally {
      await client.close();
    }
    expect((await cli(['profile', 'use', 'second'])).code).toBe(3);
  });

  it('verifies the engine against the stored CA on every request', async () => {
    const caFile = join(home, 'vireo/profiles/default/ca.pem');
    const good = readFileSync(caFile, 'utf8');
    writeFileSync(caFile, makeTlsFixture('Impostor CA').caPem, { mode: 0o600 });
    try {
      const r = await cli(['dc', 'list']);
      expect(r.code).toBe(6);
      expect(r.stderr).toMatch(
        /^Error \[tls_error\]: TLS verification of https:\/\/127\.0\.0\.1:\d+ failed/m,
      );
      const again = await cli(['login', '-u', 'admin@internal', '--password-stdin'], {
        input: `${engine.adminPassword}\n`,
      });
      expect(again.code).toBe(6);
      expect(again.stderr).toContain('does not match the CA trusted for profile default');
    } finally {
      writeFileSync(caFile, good, { mode: 0o600 });
    }
    expect((await cli(['dc', 'list'])).code).toBe(0);
  });
});

describe('data centers and clusters', () => {
  it('creates a data center and lists it as table, json and yaml', async () => {
    const created = await cli([
      'datacenter',
      'create',
      'cli-dc-1',
      '--description',
      'made by the CLI test',
      '-o',
      'json',
    ]);
    expect(created.code).toBe(0);
    const dc = JSON.parse(created.stdout);
    expect(dc).toMatchObject({ name: 'cli-dc-1', description: 'made by the CLI test' });

    const table = await cli(['dc', 'list']);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+ID\s+DESCRIPTION$/);
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^cli-dc-1\\s+${dc.id}\\s+made by the CLI test$`)),
    );

    const json = await cli(['dc', 'list', '-o', 'json', '--search', 'cli-dc']);
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ id: dc.id, name: 'cli-dc-1' })]);
    const yaml = await cli(['dc', 'list', '--output', 'yaml']);
    expect(parseYaml(yaml.stdout)).toContainEqual(expect.objectContaining({ id: dc.id, name: 'cli-dc-1' }));
  });

  it('resolves names, updates with If-Match and creates a cluster in a data center by name', async () => {
    const upd = await cli(['dc', 'update', 'cli-dc-1', '-d', 'changed', '-o', 'json']);
    expect(upd.code).toBe(0);
    expect(JSON.parse(upd.stdout).description).toBe('changed');
    const cl = await cli([
      'cluster',
      'create',
      'cli-cl-1',
      '--datacenter',
      'cli-dc-1',
      '--set',
      'cpu_type=max',
      '-o',
      'yaml',
    ]);
    expect(cl.code).toBe(0);
    expect(parseYaml(cl.stdout)).toMatchObject({ name: 'cli-cl-1', cpu_type: 'max' });
    const list = await cli(['cluster', 'list', '--datacenter', 'cli-dc-1']);
    expect(list.stdout.trimEnd().split('\n').slice(1)).toEqual([
      expect.stringMatching(/^cli-cl-1\s+\S+\s+cli-dc-1\s+-$/),
    ]);
  });

  it('prints API errors as "Error [code]: message" with documented exit codes', async () => {
    const dup = await cli(['datacenter', 'create', 'cli-dc-1']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/^Error \[datacenter_name_taken\]: .*cli-dc-1/m);
    expect(dup.stdout).toBe('');
    const missing = await cli(['datacenter', 'show', 'no-such-dc']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^Error \[datacenter_not_found\]: /m);
    const bad = await cli(['datacenter', 'create', 'has space']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^Error \[invalid_input\]: /m);
    const usage = await cli(['datacenter', 'create']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^Error \[usage_error\]: missing required argument/m);
  });

  it('deletes a cluster and a data center', async () => {
    expect((await cli(['cluster', 'delete', 'cli-cl-1'])).code).toBe(0);
    expect((await cli(['dc', 'rm', 'cli-dc-1'])).code).toBe(0);
    expect((await cli(['dc', 'show', 'cli-dc-1'])).code).toBe(3);
  });
});

describe('operations and events', () => {
  it('--wait follows an operation to its end with plain progress lines', async () => {
    const before = new Date(Date.now() - 3 * 24 * 3600 * 1000).toISOString();
    const r = await cli(['event', 'purge', '--before', before, '--wait', '-o', 'json']);
    expect(r.stderr).toMatch(/^operation events\.purge [0-9a-f-]{36}: succeeded 100%$/m);
    expect(r.code).toBe(0);
    const op = JSON.parse(r.stdout);
    expect(op).toMatchObject({ type: 'events.purge', state: 'succeeded' });
    const shown = await cli(['operation', 'show', op.id, '-o', 'json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: op.id, state: 'succeeded' });
    const waited = await cli(['operation', 'wait', op.id]);
    expect(waited.code).toBe(0);
  });

  it('a request the engine refuses before starting an operation exits 1 with its code', async () => {
    // Too recent: the engine refuses to purge the last day, with a 400 rather than an operation.
    const r = await cli(['event', 'purge', '--before', new Date().toISOString(), '--wait']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error \[purge_before_too_recent\]: /m);
    expect(r.stdout).toBe('');
  });

  it('lists events and follows the live stream until Ctrl-C', async () => {
    const follower = spawnCli(['events', '--follow', '--kind', 'datacenter.'], home);
    let out = '';
    follower.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    const exited = new Promise<number | null>((resolve) => follower.once('exit', (c) => resolve(c)));
    try {
      // Give the stream a moment to connect, then cause an event.
      await new Promise((r) => setTimeout(r, 1500));
      expect((await cli(['dc', 'create', 'cli-dc-events'])).code).toBe(0);
      const deadline = Date.now() + 15_000;
      while (!/datacenter\.created/.test(out) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      expect(out).toMatch(/datacenter\.created\s+datacenter\/cli-dc-events\s+admin@internal/);
    } finally {
      follower.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    const listed = await cli(['event', 'list', '--kind', 'datacenter.created', '--limit', '3', '-o', 'json']);
    expect(JSON.parse(listed.stdout)[0]).toMatchObject({
      kind: 'datacenter.created',
      object_name: 'cli-dc-events',
    });
  });
});

defineShellTests({ engine: () => engine, home: () => home, fingerprint: () => fingerprint });

describe('vireo logout', () => {
  it('revokes the token on the engine and deletes it locally', async () => {
    const tokenFile = join(home, 'vireo/profiles/default/token');
    const token = readFileSync(tokenFile, 'utf8').trim();
    const r = await cli(['logout']);
    expect(r.code).toBe(0);
    expect(readdirSync(join(home, 'vireo/profiles/default'))).toEqual(['ca.pem']);
    const after = await cli(['dc', 'list']);
    expect(after.code).toBe(4);
    expect(after.stderr).toMatch(/^Error \[not_logged_in\]: /m);
    // The old token no longer works on the engine itself.
    const { VireoClient } = await import('@vireo/client');
    const client = new VireoClient({ baseUrl: engine.url, ca: engine.caPem, token });
    try {
      await expect(client.whoami()).rejects.toMatchObject({ status: 401 });
    } finally {
      await client.close();
    }
  });
});
