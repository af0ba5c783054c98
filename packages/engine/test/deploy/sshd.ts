import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestNetns } from '../../../../test/support/netns';

const run = promisify(execFile);

/** A real OpenSSH server running inside a test network namespace. */
export interface TestSshd {
  address: string;
  port: number;
  /** The host key's fingerprint as `ssh-keygen -l` prints it (`SHA256:…`). */
  hostKeySha256: string;
  /** An OpenSSH private key authorized for root. */
  clientKey: string;
  stop(): Promise<void>;
}

/**
 * Starts `sshd -D` in `ns` with a throw-away host key and an authorized client key, both made with
 * ssh-keygen in `dir` (mode 0600). Root may log in by key or password (UsePAM off, so a password
 * is checked against /etc/shadow: any password a test makes up is wrong).
 */
export async function startSshd(ns: TestNetns, dir: string): Promise<TestSshd> {
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const clientKey = join(dir, 'client_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', clientKey]);
  await writeFile(join(dir, 'authorized_keys'), await readFile(`${clientKey}.pub`), { mode: 0o600 });
  const fingerprint = (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${hostKey}.pub`])).stdout.split(
    ' ',
  )[1];
  const port = 22;
  await writeFile(
    join(dir, 'sshd_config'),
    [
      `ListenAddress ${ns.nsAddress}:${port}`,
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin yes',
      'PubkeyAuthentication yes',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'Subsystem sftp internal-sftp',
      'LogLevel ERROR',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  // sshd insists on its privilege-separation directory, which openssh-server's tmpfiles.d entry
  // makes at boot. Create it when missing and leave it: it belongs to the installed package, and
  // removing it would break any other sshd on this machine (another run of this test included).
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const child: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', ns.name, '/usr/sbin/sshd', '-D', '-e', '-f', join(dir, 'sshd_config')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      process.kill(child.pid, 'SIGTERM');
      await exited;
    }
  };
  // Ready when it accepts a TCP connection inside the namespace.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`sshd exited: ${stderr}`);
    }
    const probe = await new Promise<boolean>((resolve) => {
      const sock = connect({ host: ns.nsAddress, port }, () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (probe) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`sshd did not listen: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    address: ns.nsAddress,
    port,
    hostKeySha256: fingerprint ?? '',
    clientKey: await readFile(clientKey, 'utf8'),
    stop,
  };
}
