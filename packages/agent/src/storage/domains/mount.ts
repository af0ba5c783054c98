import { execFile } from 'node:child_process';
import { readFile, realpath } from 'node:fs/promises';
import { AgentError } from '../../util/errors';

/**
 * NFS mounting for nfs domains (ADR 017). The kernel NFS client does the work (`mount -t nfs`,
 * from Debian's nfs-common); argv is built here as a list (never a shell string) from values the
 * protocol schema already restricted to safe characters.
 */

/**
 * Defaults chosen for VM images: `soft` + bounded `timeo`/`retrans` so an unreachable server turns
 * into I/O errors QEMU reports (the VM pauses) instead of processes stuck in D state forever;
 * `nosharecache` so two domains on one server never share (and confuse) mount options.
 */
export const DEFAULT_NFS_OPTIONS = ['soft', 'timeo=100', 'retrans=3', 'nosharecache'];

export interface NfsTarget {
  server: string;
  export: string;
  mountPoint: string;
  options?: string | undefined;
}

/** Merges user options over the defaults (same key: the user's wins). */
export function nfsOptions(user: string | undefined): string {
  const key = (o: string) => o.split('=')[0] as string;
  const given = (user ?? '').split(',').filter((o) => o.length > 0);
  const keys = new Set(given.map(key));
  // `hard` replaces `soft` and the other way round: they are one setting.
  if (keys.has('hard')) keys.add('soft');
  if (keys.has('soft')) keys.add('hard');
  return [...DEFAULT_NFS_OPTIONS.filter((o) => !keys.has(key(o))), ...given].join(',');
}

/** `mount` argv for an NFS export (IPv6 servers come bracketed, as mount.nfs wants them). */
export function nfsMountArgv(t: NfsTarget): string[] {
  if (t.options?.split(',').some((o) => o.startsWith('-'))) {
    throw new AgentError('invalid_params', 'mount options must not start with "-"');
  }
  const server = t.server.includes(':') && !t.server.startsWith('[') ? `[${t.server}]` : t.server;
  return ['-t', 'nfs', '-o', nfsOptions(t.options), `${server}:${t.export}`, t.mountPoint];
}

/** Runs mount/umount; failure is `storage_unreachable` with the tool's stderr (bounded) in details. */
export function runMountTool(tool: 'mount' | 'umount', args: string[], timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      reject(
        new AgentError(
          'storage_unreachable',
          `${tool} failed: ${String(stderr).trim().slice(0, 500) || err.message}`,
          {
            cause: err,
            details: { tool, args },
          },
        ),
      );
    });
  });
}

/** Decodes the octal escapes (`\040` for a space) of /proc/self/mountinfo fields. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** The file system type mounted exactly at `path` (symlinks resolved), or undefined. */
export async function mountedFsType(path: string): Promise<string | undefined> {
  const real = await realpath(path).catch(() => path);
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  let found: string | undefined;
  for (const line of text.split('\n')) {
    // "<id> <parent> <maj:min> <root> <mount point> <options> [optional…] - <fstype> <source> <super>"
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    if (unescapeMountField(fields[4] ?? '') === real) found = right.split(' ')[0];
  }
  // The last matching line wins: it is the mount on top.
  return found;
}
