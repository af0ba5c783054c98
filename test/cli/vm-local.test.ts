// A VM's life through the CLI on a real host: the engine in all-in-one mode (VIREO_LOCAL_HOST=1)
// runs this machine's own agent, QEMU boots the test guest under TCG, and `vireo vm console
// --serial` talks to it through the engine's WebSocket proxy with stdin piped (no terminal).
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAgentBinary, agentPids } from '../../packages/agent/test/support/binary';
import { qemuPidsFor } from '../../packages/agent/test/support/guest';
import { type EngineProcess, makeDataDir, removeDataDir, startEngine } from '../support/engine';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';
import { CLI_ARGV, cliEnv, REPO, runCli } from './support/cli';
import { Tmux } from './support/tmux';
import { freePort } from '../support/net';

/** Pids of `vireo-agent serve` processes whose command line names this state directory. */
const dataDir = makeDataDir();
let engine: EngineProcess | undefined;
let home: string;
let vmId: string | undefined;
const cli = (args: string[], opts?: Parameters<typeof runCli>[2]) => runCli(args, home, opts);

beforeAll(async () => {
  assertTestGuestBuilt();
  await ensureAgentBinary();
  home = fs.mkdtempSync(path.join(tmpdir(), 'vireo-cli-local-'));
  engine = await startEngine({
    dataDir,
    env: {
      VIREO_LOCAL_HOST: '1',
      VIREO_LOCAL_AGENT_PORT: String(await freePort()),
      VIREO_LOCAL_AGENT_ACCEL: 'tcg',
      VIREO_HOST_HEARTBEAT_MS: '300',
      VIREO_ISO_DIR: testGuest.dir,
    },
  });
  const fingerprint = new X509Certificate(engine.caPem).fingerprint256;
  const login = await cli(
    ['login', engine.url, '-u', 'admin@internal', '--password-stdin', '--accept-ca-fingerprint', fingerprint],
    { input: `${engine.adminPassword}\n` },
  );
  expect(login.code, login.stderr).toBe(0);
  const end = Date.now() + 30_000;
  for (;;) {
    const hosts = JSON.parse((await cli(['host', 'list', '-o', 'json'])).stdout || '[]');
    if (hosts.some((h: { state: string }) => h.state === 'up')) break;
    if (Date.now() > end) throw new Error('the local host never came up');
    await sleep(300);
  }
}, 90_000);

afterAll(async () => {
  // Whatever failed above, no QEMU and no agent outlive the test.
  if (vmId) for (const pid of await qemuPidsFor(vmId)) process.kill(pid, 'SIGKILL');
  await engine?.stop();
  for (const pid of agentPids(path.join(dataDir, 'local-agent'))) process.kill(pid, 'SIGKILL');
  await removeDataDir(dataDir);
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

describe('vireo vm on the local host', () => {
  it('starts a VM with --wait, talks to it over the serial console, stops and deletes it', async () => {
    const host = JSON.parse((await cli(['host', 'show', 'local', '-o', 'json'])).stdout);
    expect(host).toMatchObject({ name: 'local', state: 'up' });

    const created = await cli([
      'vm',
      'create',
      'cli-local-vm',
      '--cluster',
      'Default',
      '--memory',
      '256',
      '--disk',
      '1',
      '--cdrom',
      'test-guest.iso',
      '--boot',
      'cdrom,disk',
      '-o',
      'json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    vmId = JSON.parse(created.stdout).id as string;

    const started = await cli(['vm', 'start', 'cli-local-vm', '--wait', '-o', 'json'], { timeoutMs: 40_000 });
    expect(started.code, started.stderr).toBe(0);
    expect(started.stderr).toMatch(/operation vm\.start [0-9a-f-]+: succeeded/);
    expect(JSON.parse(started.stdout)).toMatchObject({ id: vmId, state: 'up', host_id: host.id });

    const onHost = await cli(['vm', 'list', '--host', 'local', '-o', 'json']);
    expect(JSON.parse(onHost.stdout)).toEqual([expect.objectContaining({ id: vmId, state: 'up' })]);
    const vnc = await cli(['vm', 'console', 'cli-local-vm', '-o', 'json']);
    expect(vnc.code, vnc.stderr).toBe(0);
    const ticket = JSON.parse(vnc.stdout);
    expect(ticket.type).toBe('vnc');
    expect(ticket.url).toBe(`${engine!.url.replace(/^https:/, 'wss:')}${ticket.ws_url}`);
    expect(ticket.vnc_password).toBe(ticket.ticket.slice(0, 8));

    // The guest is up once its marker reached the serial log; then a command typed on the
    // console (piped stdin) is answered through engine → agent → serial socket.
    const serialLog = path.join(dataDir, 'local-agent', 'vms', vmId, 'serial.log');
    const end = Date.now() + 30_000;
    while (!(fs.existsSync(serialLog) && fs.readFileSync(serialLog, 'utf8').includes(testGuest.marker))) {
      if (Date.now() > end) throw new Error('the guest never printed its boot marker');
      await sleep(250);
    }
    const consoleRun = await cli(['vm', 'console', 'cli-local-vm', '--serial', '--until', 'console-ok-42'], {
      input: '\necho console-ok-$((6*7))\n',
      timeoutMs: 20_000,
    });
    expect(consoleRun.code, consoleRun.stderr).toBe(0);
    expect(consoleRun.stdout).toContain('console-ok-42');

    // On a terminal: raw mode, keys reach the guest, Ctrl-] detaches with exit 0. (Whether raw mode
    // is undone cannot be seen from outside: Node itself resets the terminal when it exits.)
    const tdir = fs.mkdtempSync(path.join(tmpdir(), 'vireo-tmux-console-'));
    const t = new Tmux(path.join(tdir, 'tmux.sock'));
    try {
      const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
      const cmd = ['env', `XDG_CONFIG_HOME=${home}`, `PATH=${cliEnv(home).PATH}`, ...CLI_ARGV]
        .concat(['vm', 'console', 'cli-local-vm', '--serial'])
        .map(q)
        .join(' ');
      t.start(cmd, REPO);
      await t.waitFor('Ctrl-] detaches');
      t.type('echo tty-ok-$((6*7))');
      t.press('Enter');
      await t.waitFor('tty-ok-42');
      t.press('C-]');
      await t.waitFor('Detached from the serial console.');
      await expect.poll(() => t.exitStatus(), { timeout: 10_000 }).toBe(0);
    } finally {
      t.kill();
      fs.rmSync(tdir, { recursive: true, force: true });
    }

    const stopped = await cli(['vm', 'stop', 'cli-local-vm', '--wait', '-o', 'json'], { timeoutMs: 30_000 });
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(JSON.parse(stopped.stdout)).toMatchObject({ state: 'down' });
    expect(await qemuPidsFor(vmId)).toEqual([]);

    const deleted = await cli(['vm', 'delete', 'cli-local-vm', '--wait'], { timeoutMs: 30_000 });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(JSON.parse((await cli(['vm', 'list', '-o', 'json'])).stdout)).toEqual([]);
  }, 60_000);
});
