import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { DeployError } from './errors';

/** How the engine authenticates to the target: a password or a private key (PEM/OpenSSH). */
export type SshAuth = { password: string } | { privateKey: string; passphrase?: string };

export interface SshTarget {
  address: string;
  port?: number;
  user: string;
  auth: SshAuth;
  /** Pinned host key fingerprint (`SHA256:…` as OpenSSH prints it); absent on first contact. */
  hostKey?: { sha256: string };
  /** Handshake and authentication limit (ms). */
  readyTimeoutMs?: number;
}

/** The result of one remote command. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** OpenSSH's fingerprint format: `SHA256:` + unpadded base64 of the key blob's SHA-256. */
export function fingerprintOf(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** Accepts `SHA256:abc…`, `abc…` and padded base64; returns the OpenSSH form. */
export function normalizeFingerprint(text: string): string {
  const body = text
    .trim()
    .replace(/^SHA256:/i, '')
    .replace(/=+$/, '');
  return `SHA256:${body}`;
}

/**
 * One SSH connection to a host being deployed. Commands never carry secrets (they can show in the
 * target's process list); secrets travel as SFTP file contents created with their final mode.
 */
export class SshSession {
  private sftpChannel: SFTPWrapper | undefined;

  private constructor(
    private readonly client: Client,
    /** The fingerprint the server presented (pin it on first contact). */
    readonly hostKeySha256: string,
  ) {}

  /** Connects and authenticates; host key checked against the pin before any credential is sent. */
  static connect(target: SshTarget, signal?: AbortSignal): Promise<SshSession> {
    const client = new Client();
    const pinned = target.hostKey ? normalizeFingerprint(target.hostKey.sha256) : undefined;
    let presented: string | undefined;
    let mismatch = false;
    const where = `${target.address}:${target.port ?? 22}`;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        client.end();
        reject(new DeployError('ssh_connect_failed', `connecting to ${where} was cancelled`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      client.once('ready', () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(new SshSession(client, presented ?? ''));
      });
      client.once('error', (err: Error & { level?: string }) => {
        signal?.removeEventListener('abort', onAbort);
        client.end();
        if (mismatch) {
          reject(
            new DeployError(
              'hostkey_mismatch',
              `the SSH host key of ${where} is ${presented}, not the pinned ${pinned}; if the host was reinstalled, pin its new key`,
              { details: { presented, pinned } },
            ),
          );
        } else if (err.level === 'client-authentication') {
          reject(
            new DeployError(
              'ssh_auth_failed',
              `SSH authentication as ${target.user} on ${where} was refused`,
              {
                cause: err,
              },
            ),
          );
        } else {
          reject(
            new DeployError('ssh_connect_failed', `cannot connect over SSH to ${where}: ${err.message}`, {
              cause: err,
            }),
          );
        }
      });
      const config: ConnectConfig = {
        host: target.address,
        port: target.port ?? 22,
        username: target.user,
        readyTimeout: target.readyTimeoutMs ?? 15_000,
        // Only what the caller gave: no agent forwarding, no keyboard-interactive guessing.
        tryKeyboard: false,
        hostVerifier: (key: Buffer) => {
          presented = fingerprintOf(key);
          mismatch = pinned !== undefined && presented !== pinned;
          return !mismatch;
        },
      };
      if ('password' in target.auth) config.password = target.auth.password;
      else {
        config.privateKey = target.auth.privateKey;
        if (target.auth.passphrase !== undefined) config.passphrase = target.auth.passphrase;
      }
      try {
        client.connect(config);
      } catch (err) {
        // ssh2 throws synchronously for an unparsable private key.
        signal?.removeEventListener('abort', onAbort);
        reject(
          new DeployError('ssh_auth_failed', `the SSH private key cannot be used: ${(err as Error).message}`),
        );
      }
    });
  }

  /** Runs `command` through the login shell; resolves with its exit code and output (never rejects on non-zero). */
  exec(command: string, timeoutMs = 120_000): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, stream) => {
        if (err) return reject(err);
        let stdout = '';
        let stderr = '';
        const timer = setTimeout(() => {
          stream.close();
          reject(new Error(`remote command timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        stream.on('data', (d: Buffer) => {
          stdout += d.toString();
        });
        stream.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
        });
        stream.on('close', (code: number | null) => {
          clearTimeout(timer);
          resolve({ code: code ?? -1, stdout, stderr });
        });
      });
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    if (this.sftpChannel) return Promise.resolve(this.sftpChannel);
    return new Promise((resolve, reject) => {
      this.client.sftp((err, sftp) => {
        if (err) return reject(err);
        this.sftpChannel = sftp;
        resolve(sftp);
      });
    });
  }

  /** Writes `data` to a new remote file created with `mode` (no moment where a secret is readable by others). */
  async writeFile(path: string, data: string | Buffer, mode: number): Promise<void> {
    const sftp = await this.sftp();
    await new Promise<void>((resolve, reject) => {
      sftp.writeFile(path, data, { mode }, (err) => (err ? reject(err) : resolve()));
    });
    // An existing file keeps its old mode on open: set it explicitly.
    await new Promise<void>((resolve, reject) => {
      sftp.chmod(path, mode, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Streams a local file to `remotePath` over SFTP. */
  async upload(localPath: string, remotePath: string, mode: number): Promise<void> {
    const sftp = await this.sftp();
    await pipeline(createReadStream(localPath), sftp.createWriteStream(remotePath, { mode }));
  }

  close(): void {
    this.sftpChannel?.end();
    this.client.end();
  }
}

/** Quotes one word for a POSIX shell. */
export function sh(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
