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

  it('parses --nic user[:MAC], user,… and bridge=NAME,… and --boot lists', () => {
    expect(parseNic('user')).toEqual({ type: 'user' });
    expect(parseNic('user:52:54:00:00:00:01')).toEqual({ type: 'user', mac: '52:54:00:00:00:01' });
    expect(parseNic('user,model=e1000')).toEqual({ type: 'user', model: 'e1000' });
    expect(parseNic('bridge=br0')).toEqual({ bridge: 'br0' });
    expect(parseNic('bridge=vireo_br-1.2,mac=52:54:00:ab:cd:ef,model=virtio')).toEqual({
      bridge: 'vireo_br-1.2',
      mac: '52:54:00:ab:cd:ef',
      model: 'virtio',
    });
    expect(parseNic('bridge=br0,model=rtl8139,mac=02:00:00:00:00:01')).toEqual({
      bridge: 'br0',
      model: 'rtl8139',
      mac: '02:00:00:00:00:01',
    });
    const bad: Array<[string, RegExp]> = [
      ['bridge:br0', /starts with user or bridge=NAME/],
      ['tap', /starts with user or bridge=NAME/],
      ['bridge=', /bridge name/],
      ['bridge=a-name-longer-than-15', /bridge name/],
      ['bridge=br 0', /bridge name/],
      ['bridge=br0,mac=01:00:00:00:00:01', /unicast MAC/],
      ['bridge=br0,mac=52:54:00', /unicast MAC/],
      ['user:zz', /unicast MAC/],
      ['bridge=br0,model=ne2k', /model is one of virtio, e1000, rtl8139/],
      ['bridge=br0,vlan=3', /unknown setting "vlan"/],
      ['bridge=br0,model=virtio,model=e1000', /model given twice/],
      ['bridge=br0,', /unknown setting ""/],
    ];
    for (const [value, why] of bad) {
      expect(() => parseNic(value), value).toThrow(expect.objectContaining({ exitCode: 2 }));
      expect(() => parseNic(value), value).toThrow(why);
    }
    expect(parseBoot('cdrom,disk')).toEqual(['cdrom', 'disk']);
    expect(parseBoot('network')).toEqual(['network']);
    expect(() => parseBoot('cdrom,floppy')).toThrow(/unknown device "floppy"/);
  });
});
