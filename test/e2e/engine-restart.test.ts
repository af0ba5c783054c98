import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type EngineProcess,
  isPostgresFor,
  makeDataDir,
  removeDataDir,
  runEngineCommand,
  startEngine,
} from '../support/engine';

/** A tiny HTTPS client that trusts only the engine CA, as the CLI and agents do. */
function client(e: EngineProcess) {
  const dispatcher = new Agent({ connect: { ca: e.caPem } });
  const call = async (method: string, p: string, body?: unknown, token?: string) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`${e.url}/api/v1${p}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher,
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: text ? safeJson(text) : undefined };
  };
  return {
    call,
    async login(password = e.adminPassword!): Promise<string> {
      const r = await call('POST', '/auth/login', { username: 'admin@internal', password });
      expect(r.status, r.text).toBe(200);
      return (r.json as { token: string }).token;
    },
    close: () => dispatcher.close(),
  };
}

function safeJson(t: string): unknown {
  try {
    return JSON.parse(t);
  } catch {
    return t;
  }
}

const mode = (f: string) => fs.statSync(f).mode & 0o777;

function postmasterPid(dataDir: string): number {
  return Number(fs.readFileSync(path.join(dataDir, 'postgresql', 'postmaster.pid'), 'utf8').split('\n')[0]);
}

describe('vireo-engine as a process, embedded PostgreSQL (npm start environment)', () => {
  let engine: EngineProcess | undefined;
  // Owned by the test (not the handle), so a killed engine's directory survives for the restart.
  const d = makeDataDir();
  afterAll(async () => {
    await engine?.stop();
    await removeDataDir(d);
  });

  it('sets up on first start, serves HTTPS with its own CA, and keeps data across SIGTERM and SIGKILL restarts', async () => {
    // As `npm start` with no VIREO_ADMIN_PASSWORD: the engine generates one and prints it once.
    engine = await startEngine({ dataDir: d, adminPassword: null });
    const out = engine.stdout();
    expect(out).toMatch(/ready at https:\/\/127\.0\.0\.1:\d+/);
    expect(engine.adminPassword).toMatch(/^[A-Za-z0-9_-]{24}$/);
    const password = engine.adminPassword!;
    expect(out.split(password).length - 1).toBe(1);
    expect(engine.stderr()).not.toContain(password);

    // Data directory: secrets 0600, no secret in the config or the answer file.
    for (const f of ['secrets/ca.key', 'secrets/engine.key', 'secrets/postgresql.password']) {
      expect(mode(path.join(d, f)), f).toBe(0o600);
    }
    expect(mode(path.join(d, 'secrets'))).toBe(0o700);
    const conf = JSON.parse(fs.readFileSync(path.join(d, 'engine.conf'), 'utf8'));
    expect(conf).toMatchObject({ format: 1, listen: '127.0.0.1:0', database_url: null });
    const answers = fs.readFileSync(path.join(d, 'setup-answers.conf'), 'utf8');
    expect(answers).toContain('database_url=embedded');
    expect(answers).not.toContain(password);
    expect(answers).not.toMatch(/admin_password/);

    const c = client(engine);
    try {
      // The CA served over the API is the one in the data directory, and it verifies the server.
      const ca = await c.call('GET', '/pki/ca.pem');
      expect(ca.status).toBe(200);
      expect(ca.text.trim()).toBe(engine.caPem.trim());
      // A client that does not trust the engine CA is refused by TLS.
      await expect(fetch(`${engine.url}/api/v1/health`)).rejects.toThrow();

      const health = await c.call('GET', '/health');
      expect(health.status).toBe(200);
      const h = health.json as {
        status: string;
        database: string;
        version: string;
        schema: { current: number; latest: number };
      };
      expect(h).toMatchObject({ status: 'ok', database: 'ok' });
      expect(h.schema.current).toBe(h.schema.latest);
      expect(h.schema.latest).toBeGreaterThan(0);

      expect((await c.call('GET', '/datacenters')).status).toBe(401);
      const token = await c.login(password);
      const created = await c.call(
        'POST',
        '/datacenters',
        { name: 'dc-restart', description: 'survives restarts' },
        token,
      );
      expect(created.status, created.text).toBe(201);
      const dcId = (created.json as { id: string }).id;

      // Graceful restart: exit status 0, PostgreSQL stopped with it, data and session kept.
      const pgBefore = postmasterPid(d);
      engine = await engine.restart('SIGTERM');
      expect(isPostgresFor(pgBefore, path.join(d, 'postgresql'))).toBe(false);
      const c2 = client(engine);
      try {
        const got = await c2.call('GET', `/datacenters/${dcId}`, undefined, token);
        expect(got.status, got.text).toBe(200);
        expect(got.json).toMatchObject({ id: dcId, name: 'dc-restart', description: 'survives restarts' });
        expect(engine.stdout()).not.toMatch(/generated/); // setup did not run again
      } finally {
        await c2.close();
      }

      // Crash: SIGKILL leaves PostgreSQL orphaned; the next start reaps it and carries on.
      const orphan = postmasterPid(d);
      await engine.kill();
      engine = undefined;
      expect(isPostgresFor(orphan, path.join(d, 'postgresql'))).toBe(true);
      engine = await startEngine({ dataDir: d, adminPassword: null });
      expect(isPostgresFor(orphan, path.join(d, 'postgresql'))).toBe(false);
      expect(postmasterPid(d)).not.toBe(orphan);
      const c3 = client(engine);
      try {
        const again = await c3.call('GET', `/datacenters/${dcId}`, undefined, await c3.login(password));
        expect(again.status, again.text).toBe(200);
      } finally {
        await c3.close();
      }
      expect(await engine.stop()).toBe(0);
      engine = undefined;
    } finally {
      await c.close();
    }
  });
});

describe('vireo-engine against an external PostgreSQL by URL', () => {
  const dbName = `ext_${Date.now().toString(36)}`;
  let url: string;
  let admin: pg.Client;
  beforeAll(async () => {
    const conn = inject('pg');
    admin = new pg.Client(conn);
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    url = `postgresql://${conn.user}:${encodeURIComponent(conn.password)}@localhost/${dbName}?host=${encodeURIComponent(conn.host)}`;
  });
  afterAll(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  });

  it('uses the URL, keeps its password out of engine.conf, and refuses a schema newer than itself', async () => {
    const d = makeDataDir();
    let engine: EngineProcess | undefined;
    try {
      engine = await startEngine({ dataDir: d, env: { VIREO_DATABASE_URL: url } });
      expect(fs.existsSync(path.join(d, 'postgresql'))).toBe(false);
      const conf = fs.readFileSync(path.join(d, 'engine.conf'), 'utf8');
      expect(conf).toContain(dbName);
      expect(conf).not.toContain(inject('pg').password);
      expect(mode(path.join(d, 'secrets', 'database.password'))).toBe(0o600);

      const c = client(engine);
      try {
        const token = await c.login();
        const created = await c.call('POST', '/datacenters', { name: 'dc-external' }, token);
        expect(created.status, created.text).toBe(201);
      } finally {
        await c.close();
      }
      // The rows are in the external database itself.
      const ext = new pg.Client({ ...inject('pg'), database: dbName });
      await ext.connect();
      let latest: number;
      try {
        latest = (await ext.query('SELECT max(version)::int AS v FROM schema_migrations')).rows[0].v;
        expect(latest).toBeGreaterThan(0);
        const shown = await runEngineCommand(['config', 'show', '--json'], { env: { VIREO_DATA_DIR: d } });
        expect(shown.status, shown.stderr).toBe(0);
        expect(shown.stdout).not.toContain(inject('pg').password);
        expect(JSON.parse(shown.stdout).settings.database_url.value).toContain('***');

        // A newer engine migrated this database: this one must refuse to start, clearly.
        expect(await engine.stop()).toBe(0);
        engine = undefined;
        await ext.query(
          "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, 'from_the_future', 'x')",
          [latest + 1],
        );
      } finally {
        await ext.end();
      }
      // No VIREO_DATABASE_URL now: engine.conf + secrets/database.password must be enough.
      const refused = await runEngineCommand(['start'], {
        env: { VIREO_DATA_DIR: d, VIREO_LISTEN: '127.0.0.1:0' },
      });
      expect(refused.status).toBe(3);
      expect(refused.stderr).toContain(`the database schema is at version ${latest + 1}`);
      expect(refused.stderr).toContain('upgrade vireo-engine');
      expect(refused.stdout).not.toContain('ready at');
    } finally {
      await engine?.stop();
      await removeDataDir(d);
    }
  });
});
