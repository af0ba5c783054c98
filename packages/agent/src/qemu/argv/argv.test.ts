import type { VmSpec } from '@vireo/agent-protocol';
import { describe, expect, it } from 'vitest';
import {
  ArgvError,
  buildQemuArgv,
  diskNodeNames,
  type LaunchPlan,
  SANDBOX_DAEMONIZED,
  SANDBOX_FULL,
  validateVmSpec,
} from './index';

function baseSpec(overrides: Partial<VmSpec> = {}): VmSpec {
  return {
    id: '0d9e7b1c-3f6a-4c2e-9b8d-1a2b3c4d5e6f',
    name: 'unit',
    machine: 'q35',
    cpu: { model: 'qemu64', sockets: 1, cores: 1, threads: 1 },
    memory_mib: 128,
    disks: [],
    boot_order: [],
    nics: [],
    display: { vnc: false },
    serial: false,
    ...overrides,
  };
}

function plan(spec: VmSpec, extra: Partial<LaunchPlan> = {}): LaunchPlan {
  return {
    spec,
    accel: 'tcg',
    sandbox: false,
    paths: {
      qmpSocket: '/run/v/qmp.sock',
      serialSocket: '/run/v/ser.sock',
      serialLog: '/run/v/ser.log',
      pidfile: '/run/v/pid',
    },
    ...extra,
  };
}

const disk = (id: string, extra: Partial<VmSpec['disks'][number]> = {}): VmSpec['disks'][number] => ({
  id,
  path: `/images/${id}.qcow2`,
  format: 'qcow2',
  interface: 'virtio',
  bootable: false,
  readonly: false,
  ...extra,
});

const nic = (id: string, mac: string): VmSpec['nics'][number] => ({
  id,
  mac,
  model: 'virtio',
  backend: { type: 'user' },
});

/** Runs `fn`, expecting an ArgvError; returns it for more checks. */
function argvError(fn: () => unknown): ArgvError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ArgvError);
    return error as ArgvError;
  }
  throw new Error('expected an ArgvError');
}

describe('validateVmSpec', () => {
  it('accepts a minimal spec and returns it', () => {
    const spec = baseSpec();
    expect(validateVmSpec(spec)).toBe(spec);
  });

  it.each([
    ['unknown property', { ...baseSpec(), extra: 1 }, '/extra'],
    ['name with a comma', baseSpec({ name: 'a,b' }), '/name'],
    ['name with ..', baseSpec({ name: 'a..b' }), '/name'],
    ['non-UUID id', baseSpec({ id: 'vm1' }), '/id'],
    ['memory below 16 MiB', baseSpec({ memory_mib: 8 }), '/memory_mib'],
    [
      'CPU model with options',
      baseSpec({ cpu: { model: 'max,+vmx', sockets: 1, cores: 1, threads: 1 } }),
      '/cpu/model',
    ],
    [
      'newline in a disk path',
      baseSpec({ disks: [disk('a', { path: '/images/a\n-device foo' })] }),
      '/disks/0/path',
    ],
    ['relative disk path', baseSpec({ disks: [disk('a', { path: 'images/a.qcow2' })] }), '/disks/0/path'],
    [
      '".." in a disk path',
      baseSpec({ disks: [disk('a', { path: '/images/../etc/shadow' })] }),
      '/disks/0/path',
    ],
    ['multicast MAC', baseSpec({ nics: [nic('n', '01:00:5e:00:00:01')] }), '/nics/0/mac'],
    ['all-zero MAC', baseSpec({ nics: [nic('n', '00:00:00:00:00:00')] }), '/nics/0/mac'],
    [
      'duplicate disk ids',
      baseSpec({ disks: [disk('a'), disk('a', { path: '/images/b.qcow2' })] }),
      '/disks/1/id',
    ],
    [
      'duplicate image paths',
      baseSpec({ disks: [disk('a'), disk('b', { path: '/images/a.qcow2' })] }),
      '/disks/1/path',
    ],
    [
      'duplicate MACs',
      baseSpec({ nics: [nic('a', '52:54:00:00:00:01'), nic('b', '52:54:00:00:00:01')] }),
      '/nics/1/mac',
    ],
    [
      'two bootable disks',
      baseSpec({ disks: [disk('a', { bootable: true }), disk('b', { bootable: true })] }),
      '/disks/1/bootable',
    ],
    [
      'read-only IDE disk',
      baseSpec({ disks: [disk('a', { interface: 'ide', readonly: true })] }),
      '/disks/0/readonly',
    ],
    [
      'encrypted raw disk',
      baseSpec({ disks: [disk('a', { format: 'raw', encryption_secret_id: 's1' })] }),
      '/disks/0/encryption_secret_id',
    ],
    ['boot from a missing CD-ROM', baseSpec({ boot_order: ['cdrom'] }), '/boot_order/0'],
    ['repeated boot device', baseSpec({ disks: [disk('a')], boot_order: ['disk', 'disk'] }), '/boot_order'],
    [
      'five IDE devices on pc',
      baseSpec({
        machine: 'pc',
        disks: ['a', 'b', 'c', 'd'].map((id) => disk(id, { interface: 'ide' })),
        cdrom: { path: null, interface: 'ide' },
      }),
      '/disks',
    ],
    ['too many vCPUs', baseSpec({ cpu: { model: 'max', sockets: 16, cores: 16, threads: 2 } }), '/cpu'],
    [
      'newline in the kernel command line',
      baseSpec({ kernel: { kernel: '/k', cmdline: 'a\nb' } }),
      '/kernel/cmdline',
    ],
  ])('rejects %s with invalid_vm_spec at the field', (_what, spec, path) => {
    const error = argvError(() => validateVmSpec(spec));
    expect(error.code).toBe('invalid_vm_spec');
    expect(error.details.path).toBe(path);
  });
});

describe('buildQemuArgv', () => {
  it('doubles commas so a path cannot add options', () => {
    const argv = buildQemuArgv(
      plan(baseSpec({ disks: [disk('a', { path: '/images/x,file.locking=off.qcow2' })] })),
    );
    const file = argv.find((a) => a.startsWith('driver=file,'));
    expect(file).toContain('filename=/images/x,,file.locking=off.qcow2,');
  });

  it.each([
    [
      'a newline in the QMP socket path',
      { paths: { ...plan(baseSpec()).paths, qmpSocket: '/run/v/q\n.sock' } },
      '/paths/qmpSocket',
    ],
    ['a relative pidfile', { paths: { ...plan(baseSpec()).paths, pidfile: 'pid' } }, '/paths/pidfile'],
    ['an unknown accelerator', { accel: 'hvf' as 'kvm' }, '/accel'],
    ['an exec: migration source', { incoming: 'exec:cat /etc/shadow' }, '/incoming'],
    ['hot-plug ports on more than the limit', { hotplugPorts: 99 }, '/hotplugPorts'],
  ])('refuses %s (invalid_launch_plan)', (_what, extra, path) => {
    const error = argvError(() => buildQemuArgv(plan(baseSpec(), extra)));
    expect(error.code).toBe('invalid_launch_plan');
    expect(error.details.path).toBe(path);
  });

  it('refuses a newline hidden in a serial log path only when the serial console is used', () => {
    const paths = { ...plan(baseSpec()).paths, serialLog: '/run/v/log\n' };
    expect(argvError(() => buildQemuArgv(plan(baseSpec({ serial: true }), { paths }))).details.path).toBe(
      '/paths/serialLog',
    );
  });

  it('refuses CPU model host under TCG but passes it under KVM', () => {
    const spec = baseSpec({ cpu: { model: 'host', sockets: 1, cores: 1, threads: 1 } });
    expect(argvError(() => buildQemuArgv(plan(spec))).details.path).toBe('/cpu/model');
    expect(buildQemuArgv(plan(spec, { accel: 'kvm' }))).toEqual(
      expect.arrayContaining(['-cpu', 'host', '-accel', 'kvm']),
    );
  });

  it('passes exactly one -accel, with a small translation cache for TCG', () => {
    const argv = buildQemuArgv(plan(baseSpec()));
    expect(argv.filter((a) => a === '-accel')).toHaveLength(1);
    expect(argv[argv.indexOf('-accel') + 1]).toBe('tcg,tb-size=32');
  });

  it('puts VNC and its WebSocket on loopback with a password, and needs a listener from the plan', () => {
    const spec = baseSpec({ display: { vnc: true } });
    expect(argvError(() => buildQemuArgv(plan(spec))).details.path).toBe('/vnc');
    const argv = buildQemuArgv(plan(spec, { vnc: { display: 5, websocketPort: 5705 } }));
    const vnc = argv[argv.indexOf('-vnc') + 1];
    expect(vnc).toBe('127.0.0.1:5,websocket=127.0.0.1:5705,password=on');
    expect(argv.join(' ')).not.toContain('websocket=on');
  });

  it('references disk secrets by id and file only, and needs the file and the chain', () => {
    const spec = baseSpec({ disks: [disk('a', { encryption_secret_id: 'sec-a' })] });
    expect(argvError(() => buildQemuArgv(plan(spec))).details.path).toBe('/secretFiles/sec-a');
    const secretFiles = { 'sec-a': '/run/v/secrets/sec-a' };
    expect(argvError(() => buildQemuArgv(plan(spec, { secretFiles }))).details.path).toBe('/diskChains/a');
    const diskChains = {
      a: [{ path: '/images/a.qcow2', format: 'qcow2' as const, secretId: 'sec-a', writable: true }],
    };
    const argv = buildQemuArgv(plan(spec, { secretFiles, diskChains }));
    expect(argv).toContain('secret,id=sec-a,format=raw,file=/run/v/secrets/sec-a');
    const format = JSON.parse(argv.find((a) => a.includes('"driver":"qcow2"')) ?? '{}');
    expect(format).toMatchObject({ backing: null, encrypt: { format: 'luks', 'key-secret': 'sec-a' } });
  });

  it('opens an encrypted chain base first, each layer with its key, foreign layers read-only', () => {
    const spec = baseSpec({
      disks: [
        disk('a', {
          path: '/images/own/top.qcow2',
          encryption_secret_id: 'own',
          base_encryption_secret_id: 'tmpl',
        }),
      ],
    });
    const chain = [
      { path: '/images/own/top.qcow2', format: 'qcow2' as const, secretId: 'own', writable: true },
      { path: '/images/own/mid.qcow2', format: 'qcow2' as const, secretId: 'own', writable: true },
      { path: '/images/tmpl/base.qcow2', format: 'qcow2' as const, secretId: 'tmpl', writable: false },
    ];
    const secretFiles = { own: '/run/v/own', tmpl: '/run/v/tmpl' };
    const argv = buildQemuArgv(plan(spec, { secretFiles, diskChains: { a: chain } }));
    const nodes = argv
      .filter((_a, i) => argv[i - 1] === '-blockdev')
      .map((a) => JSON.parse(a) as Record<string, unknown>)
      .filter((n) => n.driver === 'qcow2');
    expect(nodes.map((n) => (n.encrypt as { 'key-secret': string })['key-secret'])).toEqual([
      'tmpl',
      'own',
      'own',
    ]);
    expect(nodes[0]).toMatchObject({ backing: null, 'read-only': true });
    expect(nodes[1]).toMatchObject({ backing: nodes[0]?.['node-name'], discard: 'unmap' });
    expect(nodes[2]).toMatchObject({
      backing: nodes[1]?.['node-name'],
      'node-name': diskNodeNames('a').format,
    });
    // A layer key that is not one of the disk's, or a chain not starting at the disk's path, is refused.
    const foreign = chain.map((l, i) => (i === 2 ? { ...l, secretId: 'other' } : l));
    expect(
      argvError(() => buildQemuArgv(plan(spec, { secretFiles, diskChains: { a: foreign } }))).details.path,
    ).toBe('/diskChains/a/2/secretId');
    expect(
      argvError(() => buildQemuArgv(plan(spec, { secretFiles, diskChains: { a: chain.slice(1) } }))).details
        .path,
    ).toBe('/diskChains/a/0');
  });

  it('applies the full sandbox only when QEMU does not daemonize', () => {
    const daemonized = buildQemuArgv(plan(baseSpec(), { sandbox: true }));
    expect(daemonized).toContain('-daemonize');
    expect(daemonized[daemonized.indexOf('-sandbox') + 1]).toBe(SANDBOX_DAEMONIZED);
    const foreground = buildQemuArgv(plan(baseSpec(), { sandbox: true, daemonize: false }));
    expect(foreground).not.toContain('-daemonize');
    expect(foreground[foreground.indexOf('-sandbox') + 1]).toBe(SANDBOX_FULL);
    expect(buildQemuArgv(plan(baseSpec()))).not.toContain('-sandbox');
  });

  it('always starts paused, without defaults, user config or shutdown exit', () => {
    const argv = buildQemuArgv(plan(baseSpec()));
    for (const flag of ['-S', '-nodefaults', '-no-user-config', '-no-shutdown', '-daemonize'])
      expect(argv).toContain(flag);
    expect(argv[argv.indexOf('-qmp') + 1]).toBe('unix:/run/v/qmp.sock,server=on,wait=off');
  });

  it('boots the bootable disk, else the first, and leaves option ROMs off non-booting NICs', () => {
    const spec = baseSpec({
      disks: [disk('a'), disk('b', { bootable: true })],
      nics: [nic('n0', '52:54:00:00:00:01'), nic('n1', '52:54:00:00:00:02')],
      boot_order: ['network', 'disk'],
    });
    const argv = buildQemuArgv(plan(spec));
    expect(argv.find((a) => a.includes('id=disk-b'))).toContain('bootindex=1');
    expect(argv.find((a) => a.includes('id=disk-a'))).not.toContain('bootindex');
    expect(argv.find((a) => a.includes('id=nic-n0'))).toContain('bootindex=0');
    expect(argv.find((a) => a.includes('id=nic-n1'))).toContain('romfile=');
    const first = buildQemuArgv(plan(baseSpec({ disks: [disk('a'), disk('b')], boot_order: ['disk'] })));
    expect(first.find((a) => a.includes('id=disk-a'))).toContain('bootindex=0');
  });

  it('is deterministic', () => {
    const spec = baseSpec({ disks: [disk('a')], nics: [nic('n0', '52:54:00:00:00:01')] });
    expect(buildQemuArgv(plan(spec))).toEqual(buildQemuArgv(plan(structuredClone(spec))));
  });
});
