import { describe, expect, it } from 'vitest';
import { emptyVmForm, newDiskRow, newNicRow, stepOfField, toSubmission, type VmForm } from './vmForm';

const form = (patch: Partial<VmForm>): VmForm => ({ ...emptyVmForm('c1'), name: ' web1 ', ...patch });

describe('create-VM wizard → API request', () => {
  it('a blank VM: numbers as numbers, a disk on a chosen data domain, a user and a bridge NIC', () => {
    const f = form({
      cpus: '2',
      memory_mib: '512',
      disks: [{ ...newDiskRow(), size_gib: '3', bootable: true, storage_domain_id: 'sd-data' }, newDiskRow()],
      nics: [
        { kind: 'user', bridge: 'ignored', mac: '' },
        { kind: 'bridge', bridge: ' br0 ', mac: '52:54:00:12:34:56' },
      ],
      boot_order: 'disk,cdrom',
    });
    expect(toSubmission(f)).toEqual({
      path: '/vms',
      body: {
        name: 'web1',
        cluster_id: 'c1',
        cpus: 2,
        memory_mib: 512,
        os_type: 'other_linux',
        boot_order: ['disk', 'cdrom'],
        disks: [
          { size_gib: 3, format: 'qcow2', interface: 'virtio', bootable: true, storage_domain_id: 'sd-data' },
          { size_gib: 10, format: 'qcow2', interface: 'virtio' },
        ],
        nics: [{ type: 'user' }, { bridge: 'br0', mac: '52:54:00:12:34:56' }],
      },
    });
  });

  it('the CD-ROM: a picked ISO domain file, else a file of the ISO directory, else none', () => {
    const fromDomain = toSubmission(form({ iso_domain_id: 'sd-iso', cdrom: 'debian.iso' })).body;
    expect(fromDomain.cdrom).toEqual({ storage_domain_id: 'sd-iso', file: 'debian.iso' });
    const fromDir = toSubmission(form({ cdrom: ' test-guest.iso ' })).body;
    expect(fromDir.cdrom).toEqual({ image: 'test-guest.iso' });
    expect('cdrom' in toSubmission(form({ iso_domain_id: 'sd-iso', cdrom: '' })).body).toBe(false);
  });

  it('text that is not a number goes through for the engine to refuse with its message', () => {
    const body = toSubmission(form({ cpus: 'two', disks: [{ ...newDiskRow(), size_gib: '1.5' }] })).body;
    expect(body.cpus).toBe('two');
    expect((body.disks as { size_gib: unknown }[])[0]?.size_gib).toBe('1.5');
    expect(toSubmission(form({ nics: [{ ...newNicRow(), kind: 'bridge', bridge: '' }] })).body.nics).toEqual([
      { bridge: '' },
    ]);
  });

  it('from a template: a thin or full clone with only the name (hardware comes from the template)', () => {
    const thin = form({ source: 'template', template_id: 't/1', disks: [], nics: [], cdrom: 'x.iso' });
    expect(toSubmission(thin)).toEqual({
      path: '/templates/t%2F1/vms',
      body: { name: 'web1', clone: 'thin' },
    });
    expect(toSubmission({ ...thin, clone: 'full' }).body).toEqual({ name: 'web1', clone: 'full' });
  });

  it('sends an API field error to the step holding the field', () => {
    expect(stepOfField('nics.1.bridge')).toBe('nics');
    expect(stepOfField('disks.0.storage_domain_id')).toBe('disks');
    expect(stepOfField('cdrom.file')).toBe('boot');
    expect(stepOfField('memory_mib')).toBe('general');
  });
});
