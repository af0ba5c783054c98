import { describe, expect, it } from 'vitest';
import { sealApplianceArgv } from './argv';
import { parseSealResult } from './result';

describe('sealApplianceArgv', () => {
  it('boots the kernel and initramfs on the volume alone: no network, no display, serial on stdout', () => {
    expect(
      sealApplianceArgv({
        kernel: '/k/vmlinuz',
        initrd: '/k/seal-appliance.initrd',
        volumePath: '/d/images/a/b',
        format: 'qcow2',
        accel: 'tcg',
      }),
    ).toEqual([
      '-nodefaults',
      '-no-user-config',
      '-machine',
      'q35',
      '-accel',
      'tcg',
      '-cpu',
      'max',
      '-smp',
      '1',
      '-m',
      '192',
      '-display',
      'none',
      '-serial',
      'stdio',
      '-no-reboot',
      '-kernel',
      '/k/vmlinuz',
      '-initrd',
      '/k/seal-appliance.initrd',
      '-append',
      'console=ttyS0 quiet panic=-1',
      '-blockdev',
      '{"driver":"file","filename":"/d/images/a/b","node-name":"seal-file"}',
      '-blockdev',
      '{"driver":"qcow2","file":"seal-file","node-name":"seal-disk","backing":null}',
      '-device',
      'virtio-blk-pci,drive=seal-disk',
    ]);
  });

  it('passes an encrypted volume key by file and asks for the ssh host keys when told', () => {
    const argv = sealApplianceArgv({
      kernel: 'k',
      initrd: 'i',
      volumePath: '/v',
      format: 'qcow2',
      accel: 'kvm',
      secretFile: '/s/a,b.key',
      removeSshHostKeys: true,
    });
    expect(argv).toContain('console=ttyS0 quiet panic=-1 vireo.seal.ssh_keys=1');
    expect(argv).toContain('secret,id=vireo-seal-sec0,format=raw,file=/s/a,,b.key');
    expect(argv).toContain(
      '{"driver":"qcow2","file":"seal-file","node-name":"seal-disk","backing":null,"encrypt":{"format":"luks","key-secret":"vireo-seal-sec0"}}',
    );
    expect(argv.slice(argv.indexOf('-cpu'), argv.indexOf('-cpu') + 2)).toEqual(['-cpu', 'host']);
  });

  it('opens a volume on a userspace-mode nfs domain with the nfs driver, and refuses a bad location', () => {
    const nfs = { server: '10.1.2.3', path: '/vireo/dom/images/a/b' };
    const argv = sealApplianceArgv({
      kernel: 'k',
      initrd: 'i',
      volumePath: '/run/vireo-agent/storage/x/dom/images/a/b',
      nfs,
      format: 'qcow2',
      accel: 'tcg',
    });
    expect(argv).toContain(
      '{"driver":"nfs","server":{"type":"inet","host":"10.1.2.3"},"path":"/vireo/dom/images/a/b","node-name":"seal-file"}',
    );
    expect(argv.join(' ')).not.toContain('/run/vireo-agent');
    expect(() =>
      sealApplianceArgv({
        kernel: 'k',
        initrd: 'i',
        volumePath: '/v',
        nfs: { server: '10.1.2.3', path: '/vireo/../etc/shadow' },
        format: 'raw',
        accel: 'tcg',
      }),
    ).toThrow(/not a valid NFS path/);
  });

  it('opens a raw volume without qcow2 options', () => {
    const argv = sealApplianceArgv({
      kernel: 'k',
      initrd: 'i',
      volumePath: '/v',
      format: 'raw',
      accel: 'tcg',
    });
    expect(argv).toContain('{"driver":"raw","file":"seal-file","node-name":"seal-disk"}');
  });
});

describe('parseSealResult (the console is hostile)', () => {
  const line = (json: string) => `boot noise\nVIREO-SEAL-RESULT ${json}\n[ 3.6] reboot: Power down\n`;

  it('reads a success and an error code', () => {
    expect(parseSealResult(line('{"ok":true,"root":"vda1","changed":["machine-id","hostname"]}'))).toEqual({
      ok: true,
      root: 'vda1',
      changed: ['machine-id', 'hostname'],
    });
    expect(parseSealResult(line('{"ok":false,"error":"no_root_fs"}'))).toEqual({
      ok: false,
      error: 'no_root_fs',
    });
  });

  it('refuses unknown changes, bad devices, bad codes, junk, overlong and unterminated lines', () => {
    expect(parseSealResult(line('{"ok":true,"root":"vda","changed":["rm -rf"]}'))).toBeUndefined();
    expect(parseSealResult(line('{"ok":true,"root":"../x","changed":[]}'))).toBeUndefined();
    expect(
      parseSealResult(line('{"ok":true,"root":"vda","changed":["hostname","hostname"]}')),
    ).toBeUndefined();
    expect(parseSealResult(line('{"ok":false,"error":"No Root!"}'))).toBeUndefined();
    expect(parseSealResult(line('{"ok":true'))).toBeUndefined();
    expect(parseSealResult(line('[1]'))).toBeUndefined();
    expect(parseSealResult(line(`{"ok":false,"error":"x","pad":"${'a'.repeat(2000)}"}`))).toBeUndefined();
    expect(parseSealResult('\nVIREO-SEAL-RESULT {"ok":false,"error":"x"}')).toBeUndefined();
    expect(parseSealResult('nothing here\n')).toBeUndefined();
  });
});
