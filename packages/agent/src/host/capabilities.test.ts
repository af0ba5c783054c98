import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { cpus, hostname, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { HostCapabilitiesSchema } from '@vireo/agent-protocol';
import { Value } from '@sinclair/typebox/value';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveAccelerator } from './accel';
import { readHostCapabilities } from './capabilities';
import { readHostNics } from './nics';
import { readNumaNodes } from './numa';

const fixtures = new URL('./fixtures/', import.meta.url).pathname;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vireo-host-caps-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A /sys/class/net entry with the attributes the reader looks at. */
async function fakeNic(
  root: string,
  name: string,
  attrs: { type?: number; mac?: string; mtu?: number; operstate?: string; speed?: number },
  extra: { bridge?: boolean; device?: boolean; master?: string } = {},
): Promise<void> {
  const nic = join(root, name);
  await mkdir(nic, { recursive: true });
  await writeFile(join(nic, 'type'), `${attrs.type ?? 1}\n`);
  await writeFile(join(nic, 'address'), `${attrs.mac ?? '52:54:00:00:00:01'}\n`);
  await writeFile(join(nic, 'mtu'), `${attrs.mtu ?? 1500}\n`);
  await writeFile(join(nic, 'operstate'), `${attrs.operstate ?? 'up'}\n`);
  if (attrs.speed !== undefined) await writeFile(join(nic, 'speed'), `${attrs.speed}\n`);
  if (extra.bridge) await mkdir(join(nic, 'bridge'));
  if (extra.device) await mkdir(join(nic, 'device'));
  if (extra.master) await symlink(`../${extra.master}`, join(nic, 'master'));
}

describe('readHostNics', () => {
  it('reports bridges, enslaved and physical NICs, and leaves loopback out', async () => {
    const net = join(dir, 'net');
    await fakeNic(net, 'lo', { type: 772, mac: '00:00:00:00:00:00', mtu: 65536, operstate: 'unknown' });
    await fakeNic(
      net,
      'eno1',
      { speed: 10000, mac: 'aa:bb:cc:00:00:01' },
      { device: true, master: 'vireomgmt' },
    );
    await fakeNic(net, 'vireomgmt', { mac: 'aa:bb:cc:00:00:01', speed: -1 }, { bridge: true });
    await fakeNic(net, 'vnet0', { operstate: 'down', mtu: 9000 }, { master: 'vireomgmt' });
    expect(await readHostNics(net)).toEqual([
      {
        name: 'eno1',
        mac: 'aa:bb:cc:00:00:01',
        mtu: 1500,
        operstate: 'up',
        is_bridge: false,
        is_physical: true,
        speed_mbps: 10000,
        master: 'vireomgmt',
      },
      {
        name: 'vireomgmt',
        mac: 'aa:bb:cc:00:00:01',
        mtu: 1500,
        operstate: 'up',
        is_bridge: true,
        is_physical: false,
        speed_mbps: null,
        master: null,
      },
      {
        name: 'vnet0',
        mac: '52:54:00:00:00:01',
        mtu: 9000,
        operstate: 'down',
        is_bridge: false,
        is_physical: false,
        speed_mbps: null,
        master: 'vireomgmt',
      },
    ]);
    expect(await readHostNics(join(dir, 'no-such-dir'))).toEqual([]);
  });
});

describe('readNumaNodes', () => {
  it('reads each node in numeric order', async () => {
    const root = join(dir, 'node');
    for (const [id, cpulist, kib] of [
      [10, '4-5', 2048],
      [0, '0-1,6', 1024],
      [2, '2-3', 4096],
    ] as const) {
      await mkdir(join(root, `node${id}`), { recursive: true });
      await writeFile(join(root, `node${id}`, 'cpulist'), `${cpulist}\n`);
      await writeFile(
        join(root, `node${id}`, 'meminfo'),
        `Node ${id} MemTotal:  ${kib} kB\nNode ${id} MemFree: 1 kB\n`,
      );
    }
    await writeFile(join(root, 'online'), '0,2,10\n');
    expect(await readNumaNodes(root)).toEqual([
      { id: 0, cpus: [0, 1, 6], memory_total_bytes: 1024 * 1024 },
      { id: 2, cpus: [2, 3], memory_total_bytes: 4096 * 1024 },
      { id: 10, cpus: [4, 5], memory_total_bytes: 2048 * 1024 },
    ]);
    expect(await readNumaNodes(join(dir, 'no-numa'))).toEqual([]);
  });
});

describe('readHostCapabilities', () => {
  it('reads fixture files through its sources', async () => {
    const caps = await readHostCapabilities(
      {},
      {
        cpuinfo: join(fixtures, 'cpuinfo-xeon-2s2c2t.txt'),
        meminfo: join(fixtures, 'meminfo.txt'),
        osRelease: [join(dir, 'missing-os-release'), join(fixtures, 'os-release.txt')],
        numaRoot: join(dir, 'no-numa'),
        sysClassNet: join(dir, 'no-net'),
      },
    );
    expect(caps.cpu).toMatchObject({
      sockets: 2,
      cores_per_socket: 2,
      threads_per_core: 2,
      vendor: 'GenuineIntel',
    });
    expect(caps.memory_total_bytes).toBe(24684092 * 1024);
    expect(caps.os.id).toBe('debian');
    expect(caps.numa_nodes).toEqual([]);
    expect(caps.nics).toEqual([]);
    // No accelerator decision given: KVM is listed as not probed, TCG as usable.
    expect(caps.accelerators).toEqual([
      { name: 'kvm', usable: false, reason: 'not probed' },
      { name: 'tcg', usable: true, reason: 'emulation, always available' },
    ]);
    await expect(
      readHostCapabilities({}, { ...defaultSourcesFor(dir), cpuinfo: join(dir, 'no-cpuinfo') }),
    ).rejects.toMatchObject({ code: 'internal_error' });
  });

  it("describes this machine, wire-valid, and agrees with Node's own view of it", async () => {
    const accel = await resolveAccelerator('tcg', { stateDir: dir });
    const caps = await readHostCapabilities({ accel });
    const errors = [...Value.Errors(HostCapabilitiesSchema, caps)].map((e) => `${e.path}: ${e.message}`);
    expect(errors).toEqual([]);
    expect(caps.hostname).toBe(hostname());
    expect(caps.kernel.release).toBe(release());
    expect(caps.cpu.logical_cpus).toBe(cpus().length);
    expect(caps.cpu.sockets * caps.cpu.cores_per_socket * caps.cpu.threads_per_core).toBe(
      caps.cpu.logical_cpus,
    );
    expect(caps.memory_total_bytes).toBe(totalmem());
    expect(caps.qemu.machine_types.find((t) => t.name === 'q35')?.alias_of).toMatch(/^pc-q35-/);
    expect(caps.accelerators.find((a) => a.name === 'tcg')?.usable).toBe(true);
    expect(caps.accelerators.find((a) => a.name === 'kvm')?.reason ?? 'not probed').toMatch(/not probed/);
    expect(caps.nics.map((n) => n.name)).not.toContain('lo');
    if (existsSync('/sys/devices/system/node/node0')) {
      const cpuCount = caps.numa_nodes.reduce((n, node) => n + node.cpus.length, 0);
      expect(cpuCount).toBe(caps.cpu.logical_cpus);
    }
    const osRelease = readFileSync('/etc/os-release', 'utf8');
    expect(osRelease).toContain(`ID=${caps.os.id}`);
  });
});

function defaultSourcesFor(root: string) {
  return {
    cpuinfo: '/proc/cpuinfo',
    meminfo: '/proc/meminfo',
    osRelease: ['/etc/os-release'],
    numaRoot: join(root, 'no-numa'),
    sysClassNet: join(root, 'no-net'),
  };
}
