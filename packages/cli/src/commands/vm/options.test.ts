import { describe, expect, it } from 'vitest';
import { parseBoot, parseDisk, parseNic } from './options';

describe('vm hardware flags', () => {
  it('parses --disk SIZE_GIB[:format[:interface]]', () => {
    expect(parseDisk('10')).toEqual({ size_gib: 10 });
    expect(parseDisk('2:raw')).toEqual({ size_gib: 2, format: 'raw' });
    expect(parseDisk('3:qcow2:scsi')).toEqual({ size_gib: 3, format: 'qcow2', interface: 'scsi' });
    expect(parseDisk('4::sata')).toEqual({ size_gib: 4, interface: 'sata' });
    for (const bad of ['', '0', '-1', '1.5', 'ten', '1:vmdk', '1:raw:usb', '1:raw:ide:x']) {
      expect(() => parseDisk(bad), bad).toThrow(expect.objectContaining({ exitCode: 2 }));
    }
  });

  it('parses --nic user[:MAC] and --boot lists', () => {
    expect(parseNic('user')).toEqual({ type: 'user' });
    expect(parseNic('user:52:54:00:00:00:01')).toEqual({ type: 'user', mac: '52:54:00:00:00:01' });
    expect(() => parseNic('bridge:br0')).toThrow(/--nic expects user/);
    expect(parseBoot('cdrom,disk')).toEqual(['cdrom', 'disk']);
    expect(parseBoot('network')).toEqual(['network']);
    expect(() => parseBoot('cdrom,floppy')).toThrow(/unknown device "floppy"/);
  });
});
