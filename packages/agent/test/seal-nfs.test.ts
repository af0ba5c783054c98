/**
 * volume.seal on a userspace-mode nfs domain (ADR 027, ADR 030) against a real NFSv3 server
 * (nfs-ganesha in a test network namespace) and a real QEMU (TCG): the appliance's only disk is the
 * volume on the export, opened by QEMU's nfs driver; the result is read back through qemu-img's
 * nfs driver and `debugfs`, never by mounting.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { VolumeSealParams } from '@vireo/agent-protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNfsServer, type TestNfsServer } from '../../../test/support/nfs-server';
import type { StorageDomains } from '../src/storage/domains/service';
import { UserspaceNfsImages } from '../src/storage/nfs/images';
import { nfsUrl, UserspaceVolumes } from '../src/storage/nfs/volumes';
import { findSealAppliance } from '../src/storage/seal/appliance';
import { type SealerOptions, sealVolume } from '../src/storage/seal/service';
import { userspaceNfsDomains } from './support/nfs-domains';

const run = promisify(execFile);
const log = pino({ level: 'silent' });
const MACHINE_ID = '0123456789abcdef0123456789abcdef';

let server: TestNfsServer;
let work: string;
let domains: StorageDomains;
let domainId: string;
let localPath: string;
let opts: SealerOptions;
const rootCalls: string[] = [];
/** The directory-domain path is never taken for an nfs domain: it records any call and refuses. */
const resolveRoot = async (id: string): Promise<string> => {
  rootCalls.push(id);
  throw new Error(`resolveRoot(${id}) must not be called for a userspace-mode nfs domain`);
};

beforeAll(async () => {
  if (!findSealAppliance()) throw new Error('seal appliance missing: run scripts/build-seal-appliance.sh');
  server = await startNfsServer('nfsseal');
  work = await mkdtemp(join(tmpdir(), 'vireo-seal-nfs-'));
  domains = userspaceNfsDomains(work, log);
  domainId = randomUUID();
  localPath = `/run/vireo-agent/storage/${domainId}`;
  await domains.activate({
    domain: {
      id: domainId,
      name: 'seal-nfs',
      kind: 'data',
      backend: 'nfs',
      path: localPath,
      nfs_server: server.address,
      nfs_export: server.exportPath,
    },
    engine_id: randomUUID(),
    create_metadata: true,
  });
  const images = new UserspaceNfsImages(domains);
  opts = {
    qemuBinary: 'qemu-system-x86_64',
    accel: 'tcg',
    secretsDir: join(work, 'secrets'),
    log,
    timeoutMs: 150_000,
    nfs: { domain: (id) => domains.userspaceDomain(id), images: () => images },
  };
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A qcow2 volume on the export holding an ext4 guest tree, written through qemu-img's nfs driver. */
async function guestVolume(): Promise<{ params: VolumeSealParams; url: string }> {
  const tree = join(work, 'tree');
  await mkdir(join(tree, 'etc'), { recursive: true });
  await mkdir(join(tree, 'var', 'lib', 'dbus'), { recursive: true });
  await writeFile(join(tree, 'etc', 'hostname'), 'nfs-web-1\n');
  await writeFile(join(tree, 'etc', 'machine-id'), `${MACHINE_ID}\n`);
  await writeFile(join(tree, 'var', 'lib', 'dbus', 'machine-id'), `${MACHINE_ID}\n`);
  await writeFile(join(tree, 'etc', 'motd'), 'kept on nfs\n');
  const raw = join(work, 'guest.raw');
  await run('truncate', ['-s', '32M', raw]);
  await run('mkfs.ext4', ['-q', '-F', '-d', tree, raw]);
  const d = domains.userspaceDomain(domainId);
  if (!d) throw new Error('the domain is not in userspace mode');
  const disk_id = randomUUID();
  const volume_id = randomUUID();
  // The volume as the agent makes one (disk directory over NFS, qcow2 by qemu-img), then filled.
  await new UserspaceVolumes({
    domain: (id) => domains.userspaceDomain(id),
    unavailable: (id, feature) => domains.featureUnavailable(id, feature),
    log,
    secretsDir: join(work, 'secrets'),
  }).create(d, { domain_id: domainId, disk_id, volume_id, format: 'qcow2', size_bytes: 32 << 20 });
  const url = nfsUrl(d.location, `${domainId}/images/${disk_id}/${volume_id}`);
  await run('qemu-img', ['convert', '-q', '-n', '-f', 'raw', '-O', 'qcow2', raw, url]);
  return { params: { domain_id: domainId, disk_id, volume_id, format: 'qcow2' }, url };
}

async function readGuestFile(raw: string, path: string): Promise<string | undefined> {
  const { stdout, stderr } = await run('debugfs', ['-R', `cat ${path}`, raw]);
  return /File not found/.test(stderr) ? undefined : stdout;
}

describe('volume.seal on a userspace-mode nfs domain', { timeout: 200_000 }, () => {
  it('boots the appliance on the volume over NFS and resets machine-id and hostname there', async () => {
    const { params, url } = await guestVolume();
    const result = await sealVolume(resolveRoot, opts, params);
    expect(result.changed).toEqual(['machine-id', 'dbus-machine-id', 'hostname']);
    expect(result.root_device).toBe('vda');

    // Read back through the nfs driver: the sealed file system is on the server.
    const back = join(work, 'back.raw');
    await run('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'raw', url, back]);
    expect(await readGuestFile(back, '/etc/machine-id')).toBe('');
    expect(await readGuestFile(back, '/etc/hostname')).toBe('localhost\n');
    expect(await readGuestFile(back, '/var/lib/dbus/machine-id')).toBeUndefined();
    expect(await readGuestFile(back, '/etc/motd')).toBe('kept on nfs\n');
    // Nothing went through a local directory: the domain's path is only a name on this host.
    expect(rootCalls).toEqual([]);
    await expect(stat(localPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('checks the volume over NFS before booting anything: missing, or not the declared format', async () => {
    const missing = { domain_id: domainId, disk_id: randomUUID(), volume_id: randomUUID() };
    await expect(sealVolume(resolveRoot, opts, { ...missing, format: 'qcow2' })).rejects.toMatchObject({
      code: 'image_not_found',
    });
    // A raw file declared qcow2 is refused by its header, as a VM launch would refuse it.
    const disk = randomUUID();
    const vol = randomUUID();
    await mkdir(join(server.dir, domainId, 'images', disk), { recursive: true });
    await writeFile(join(server.dir, domainId, 'images', disk, vol), Buffer.alloc(1 << 20));
    await expect(
      sealVolume(resolveRoot, opts, { domain_id: domainId, disk_id: disk, volume_id: vol, format: 'qcow2' }),
    ).rejects.toMatchObject({ code: 'image_invalid' });
    expect(rootCalls).toEqual([]);
  });
});
