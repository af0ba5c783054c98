import { describe, expect, it } from 'vitest';
import { buildQemuArgv, diskNodeNames, type LaunchPlan, volumeNodeNames } from './index';

/** The nfs protocol node of userspace-mode nfs domains (ADR 027); the golden case pins the argv. */
const path = '/run/vireo-agent/storage/d/d/images/a/b';

function plan(nfs: { server: string; path: string }): LaunchPlan {
  return {
    spec: {
      id: '0d9e7b1c-3f6a-4c2e-9b8d-1a2b3c4d5e6f',
      name: 'nfs-unit',
      machine: 'q35',
      cpu: { model: 'qemu64', sockets: 1, cores: 1, threads: 1 },
      memory_mib: 128,
      disks: [{ id: 'd0', path, format: 'qcow2', interface: 'virtio', bootable: true, readonly: false }],
      boot_order: ['disk'],
      nics: [],
      display: { vnc: false },
      serial: false,
    },
    accel: 'tcg',
    sandbox: false,
    paths: { qmpSocket: '/r/q', serialSocket: '/r/s', serialLog: '/r/l', pidfile: '/r/p' },
    nfsImages: { [path]: nfs },
  };
}

describe('nfs images in the argv', () => {
  it('opens a mapped path with the nfs driver and nothing else with it', () => {
    const argv = buildQemuArgv(plan({ server: 'fd00::2', path: '/exp/d/images/a/b' }));
    const file = diskNodeNames('d0').file;
    expect(argv.filter((a) => a.startsWith('driver=nfs'))).toEqual([
      `driver=nfs,server.type=inet,server.host=fd00::2,path=/exp/d/images/a/b,node-name=${file},read-only=off,discard=unmap`,
    ]);
    expect(argv.join('\n')).not.toContain(`filename=${path}`);
  });

  it('opens an encrypted layer on nfs with the nfs driver in its JSON node', () => {
    const p = plan({ server: 'filer', path: '/exp/d/images/a/b' });
    const disk = {
      ...(p.spec.disks[0] as LaunchPlan['spec']['disks'][number]),
      encryption_secret_id: 'sec-d0',
    };
    const argv = buildQemuArgv({
      ...p,
      spec: { ...p.spec, disks: [disk] },
      secretFiles: { 'sec-d0': '/run/v/sec-d0' },
      diskChains: { d0: [{ path, format: 'qcow2', secretId: 'sec-d0', writable: true }] },
    });
    const nodes = argv.filter((a) => a.startsWith('{')).map((a) => JSON.parse(a));
    expect(nodes[0]).toMatchObject({
      driver: 'nfs',
      server: { type: 'inet', host: 'filer' },
      path: '/exp/d/images/a/b',
      'node-name': diskNodeNames('d0').file,
    });
    expect(nodes[0]).not.toHaveProperty('filename');
    expect(nodes[1]).toMatchObject({ driver: 'qcow2', encrypt: { format: 'luks', 'key-secret': 'sec-d0' } });
  });

  it('opens every layer of a plain chain on nfs as its own nfs node, base first (golden)', () => {
    const p = plan({ server: '10.0.0.2', path: '/exp/d/images/a/b' });
    const snap = '/run/vireo-agent/storage/d/d/images/a/s';
    const base = '/run/vireo-agent/storage/d/d/images/t/base';
    const argv = buildQemuArgv({
      ...p,
      diskChains: {
        d0: [
          { path, format: 'qcow2', writable: true },
          { path: snap, format: 'qcow2', writable: true },
          { path: base, format: 'raw', writable: false },
        ],
      },
      nfsImages: {
        [path]: { server: '10.0.0.2', path: '/exp/d/images/a/b' },
        [snap]: { server: '10.0.0.2', path: '/exp/d/images/a/s' },
        [base]: { server: '10.0.0.2', path: '/exp/d/images/t/base' },
      },
    });
    const d = diskNodeNames('d0');
    const s = volumeNodeNames(snap);
    const b = volumeNodeNames(base);
    const nodes = argv.filter((a) => a.startsWith('{'));
    const nfs = (p: string) => `"driver":"nfs","server":{"type":"inet","host":"10.0.0.2"},"path":"${p}"`;
    expect(nodes).toEqual([
      `{${nfs('/exp/d/images/t/base')},"node-name":"${b.file}","read-only":true}`,
      `{"driver":"raw","file":"${b.file}","node-name":"${b.format}","read-only":true}`,
      `{${nfs('/exp/d/images/a/s')},"node-name":"${s.file}","discard":"unmap"}`,
      `{"driver":"qcow2","file":"${s.file}","node-name":"${s.format}","discard":"unmap","backing":"${b.format}"}`,
      `{${nfs('/exp/d/images/a/b')},"node-name":"${d.file}","discard":"unmap"}`,
      `{"driver":"qcow2","file":"${d.file}","node-name":"${d.format}","discard":"unmap","backing":"${s.format}"}`,
    ]);
    expect(argv.join('\n')).not.toContain('"filename"');
  });

  it('refuses option smuggling and traversal in the plan', () => {
    for (const bad of [
      { server: 'a,b=c', path: '/exp/x' },
      { server: 'filer', path: '/exp/../etc/shadow' },
      { server: 'filer', path: '/exp/x,file.locking=off' },
      { server: 'filer', path: 'relative' },
    ]) {
      expect(() => buildQemuArgv(plan(bad))).toThrow(
        expect.objectContaining({ code: 'invalid_launch_plan' }),
      );
    }
  });
});
