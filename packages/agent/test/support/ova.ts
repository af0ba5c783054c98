import { randomUUID } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobProgressEvent } from '@vireo/agent-protocol';
import pino from 'pino';
import { OvaService } from '../../src/storage/export/ova';
import { TAR_END, tarHeader, tarPadding } from '../../src/storage/export/tar';
import { createTestDomains } from './storage-domains';

/** An OVA service on real files: one data domain and one export domain under a temporary directory. */
export interface OvaFixture {
  /** The temporary directory holding both domains; scratch files may go here too. */
  base: string;
  /** The data domain's id. */
  data: string;
  /** The export domain's id. */
  exp: string;
  ova: OvaService;
  /** Every `job.progress` event the service emitted. */
  progress: JobProgressEvent[];
  /** A domain's root directory. */
  root(id: string): string;
  /** The export domain's `ova/` directory. */
  ovaDir(): string;
  /** The disk directories on the data domain (none yet: empty). */
  diskDirs(): Promise<string[]>;
  /** Places `tar` as `<name>.ova` in the export domain. */
  put(name: string, tar: Buffer): Promise<void>;
  remove(): Promise<void>;
}

export async function createOvaFixture(prefix: string): Promise<OvaFixture> {
  const data = randomUUID();
  const exp = randomUUID();
  const domains = await createTestDomains(prefix, [data, exp]);
  const root = (id: string) => domains.roots.get(id) as string;
  const ovaDir = () => join(root(exp), 'ova');
  return {
    base: domains.base,
    data,
    exp,
    ova: new OvaService(domains.resolveRoot, domains.emit, pino({ level: 'silent' })),
    progress: domains.progress,
    root,
    ovaDir,
    diskDirs: async () => readdir(join(root(data), 'images')).catch(() => []),
    put: async (name, tar) => {
      await mkdir(ovaDir(), { recursive: true });
      await writeFile(join(ovaDir(), `${name}.ova`), tar);
    },
    remove: () => domains.remove(),
  };
}

/**
 * A tar from raw members, as other tools (or an attacker) write it: any name (the first 100
 * bytes; the agent's own writer refuses what it would not write), and `type` rewrites the entry's
 * type flag — the checksum is made again over what was patched.
 */
export function craftTar(members: { name: string; data: Buffer; type?: string }[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    const h = tarHeader('x', m.data.length, 0);
    h.fill(0, 0, 100);
    h.write(m.name, 0, 100, 'latin1');
    if (m.type) h.write(m.type, 156, 1, 'ascii');
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
    parts.push(h, m.data, tarPadding(m.data.length));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}
