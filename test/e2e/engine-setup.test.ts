import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { verifyPassword } from '../../packages/engine/src/auth/passwords';
import { makeDataDir, removeDataDir, runEngineCommand } from '../support/engine';

/**
 * `vireo-engine setup`, `config show` and `version` as a person runs them. An external database
 * (a fresh one on the test PostgreSQL) keeps these fast; the embedded path is covered by
 * engine-restart.test.ts.
 */
describe('vireo-engine setup', () => {
  const conn = inject('pg');
  const databases: string[] = [];
  const dirs: string[] = [];
  let admin: pg.Client;

  beforeAll(async () => {
    admin = new pg.Client(conn);
    await admin.connect();
  });
  afterAll(async () => {
    for (const db of databases) await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.end();
    for (const d of dirs) await removeDataDir(d);
  });

  async function newDatabase(): Promise<{ name: string; url: string }> {
    const name = `setup_${Math.random().toString(36).slice(2, 10)}`;
    await admin.query(`CREATE DATABASE ${name}`);
    databases.push(name);
    const url = `postgresql://${conn.user}:${encodeURIComponent(conn.password)}@localhost/${name}?host=${encodeURIComponent(conn.host)}`;
    return { name, url };
  }
  function newDir(): string {
    const d = makeDataDir();
    dirs.push(d);
    return d;
  }
  async function adminHash(db: string): Promise<string> {
    const c = new pg.Client({ ...conn, database: db });
    await c.connect();
    try {
      const r = await c.query("SELECT password_hash FROM users WHERE domain = 'internal' AND name = 'admin'");
      return r.rows[0].password_hash;
    } finally {
      await c.end();
    }
  }

  it('replays an answer file, writes what it used without secrets, and re-runs without touching CA or password', async () => {
    const db = await newDatabase();
    const dir = newDir();
    const answers = path.join(dir, '..', `${path.basename(dir)}.answers`);
    dirs.push(answers);
    const password = 'answer-file-pw-1';
    fs.writeFileSync(
      answers,
      [
        '# written by a test',
        `data_dir=${dir}`,
        'listen=127.0.0.1:0',
        `database_url=${db.url}`,
        'organization=Acme Labs',
        'server_names=engine.example.test, 192.0.2.10',
        `admin_password=${password}`,
        'token_lifetime=2h',
      ].join('\n'),
      { mode: 0o600 },
    );
    const r = await runEngineCommand(['setup', '--answer-file', answers]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('Setup complete.');
    expect(r.stdout + r.stderr).not.toContain(password);
    expect(r.stdout + r.stderr).not.toContain(conn.password);
    expect(await verifyPassword(password, await adminHash(db.name))).toBe(true);

    const ca = new X509Certificate(fs.readFileSync(path.join(dir, 'pki/ca.pem')));
    expect(ca.subject).toContain('O=Acme Labs');
    const server = new X509Certificate(fs.readFileSync(path.join(dir, 'pki/engine.pem')));
    expect(server.subjectAltName).toContain('DNS:engine.example.test');
    expect(server.subjectAltName).toContain('IP Address:192.0.2.10');
    expect(server.subjectAltName).toContain('DNS:localhost');
    expect(server.verify(ca.publicKey)).toBe(true);

    const written = fs.readFileSync(path.join(dir, 'setup-answers.conf'), 'utf8');
    expect(written).toContain('organization=Acme Labs');
    expect(written).toContain('token_lifetime=2h');
    expect(written).not.toContain(password);
    expect(written).not.toContain(conn.password);

    // Re-running setup with the answers it wrote: a reconfiguration, CA and password kept.
    const hashBefore = await adminHash(db.name);
    const again = await runEngineCommand(['setup', '--answer-file', path.join(dir, 'setup-answers.conf')]);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toContain('Reconfiguring');
    expect(again.stdout).toContain('password unchanged');
    expect(new X509Certificate(fs.readFileSync(path.join(dir, 'pki/ca.pem'))).fingerprint256).toBe(
      ca.fingerprint256,
    );
    expect(await adminHash(db.name)).toBe(hashBefore);

    // config show: every setting with its source; flags beat the file; no password anywhere.
    const shown = await runEngineCommand(['config', 'show', '--data-dir', dir, '--log-level', 'debug']);
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/organization\s+Acme Labs\s+\(file\)/);
    expect(shown.stdout).toMatch(/log_level\s+debug\s+\(flag\)/);
    expect(shown.stdout).toMatch(/data_dir\s+\S+\s+\(flag\)/);
    expect(shown.stdout).not.toContain(conn.password);

    // pki status: what an operator compares with the CA a client downloaded.
    const pki = await runEngineCommand(['pki', 'status', '--data-dir', dir]);
    expect(pki.status, pki.stderr).toBe(0);
    expect(pki.stdout).toMatch(/engine CA: ok, 36\d\d days left/);
    expect(pki.stdout).toContain(ca.fingerprint256);
    expect(pki.stdout).toMatch(/HTTPS certificate: ok.*\n(.*\n)*\s+names\s+.*engine\.example\.test/);

    const version = await runEngineCommand(['version']);
    expect(version.stdout.trim()).toMatch(/^vireo-engine \d+\.\d+\.\d+/);
  });

  it('asks its questions interactively (answers piped in) and shows a summary before acting', async () => {
    const db = await newDatabase();
    const dir = newDir();
    const input = [
      dir, // data directory
      '127.0.0.1:0', // listen
      'not a url', // database: rejected, asked again
      db.url,
      '', // organization: default
      '', // server names: none
      'short', // password: too short, asked again
      'interactive-pw-1',
      'interactive-pw-1',
      'yes',
    ].join('\n');
    const r = await runEngineCommand(['setup'], { input: `${input}\n` });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('Database: "embedded", or an external postgresql:// URL');
    expect(r.stdout).toContain('is not a URL');
    expect(r.stdout).toContain('at least 8 characters');
    expect(r.stdout).toMatch(/organization\s+Vireo/);
    expect(r.stdout).toContain('Setup complete.');
    expect(await verifyPassword('interactive-pw-1', await adminHash(db.name))).toBe(true);
    const conf = JSON.parse(fs.readFileSync(path.join(dir, 'engine.conf'), 'utf8'));
    expect(conf.database_url).toContain(db.name);
    expect(conf.database_url).not.toContain(encodeURIComponent(conn.password));
  });

  it('rejects a bad answer file before doing anything, and undoes a setup that fails half-way', async () => {
    const dir = newDir();
    const bad = path.join(dir, 'bad.answers');
    fs.writeFileSync(bad, `data_dir=${dir}\nlisten_address=1.2.3.4:5\n`);
    const r = await runEngineCommand(['setup', '--answer-file', bad]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('line 2: unknown key "listen_address"');
    expect(fs.readdirSync(dir)).toEqual(['bad.answers']);

    // The database cannot be reached: the CA and certificate made before that are removed again.
    const unreachable = `postgresql://vireo:pw@localhost/none?host=${encodeURIComponent(path.join(dir, 'no-such-socket'))}`;
    const failed = await runEngineCommand(['setup', '--non-interactive'], {
      env: { VIREO_DATA_DIR: dir, VIREO_DATABASE_URL: unreachable, VIREO_ADMIN_PASSWORD: 'whatever-1' },
    });
    expect(failed.status).toBe(1);
    expect(failed.stderr).toContain('cannot connect to the database');
    expect(fs.existsSync(path.join(dir, 'engine.conf'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'pki', 'ca.pem'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'secrets', 'ca.key'))).toBe(false);
  });
});
