import { describe, expect, it } from 'vitest';
import type { VmRow } from '../../db/tables/vms';
import { VireoError } from '../../errors';
import { vmOvf } from '../../services/export-catalog';
import { vmDisks, vmEntity, vmNics } from './fixtures.test-support';
import { parseOvf, writeOvf } from './index';

describe('OVF: the console type of a headless VM', () => {
  it('round-trips console "serial" and "vnc" through write and parse', () => {
    for (const console of ['serial', 'vnc'] as const) {
      const text = writeOvf({ ...vmEntity, console }, vmDisks, vmNics);
      expect(text).toContain(`console="${console}"`);
      expect(parseOvf(text).console).toBe(console);
    }
  });

  it('refuses any other console type as ovf_invalid', () => {
    const text = writeOvf({ ...vmEntity, console: 'serial' }, vmDisks, vmNics).replace(
      'console="serial"',
      'console="spice"',
    );
    try {
      parseOvf(text);
      expect.unreachable('a console type "spice" was accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(VireoError);
      expect((err as VireoError).code).toBe('ovf_invalid');
    }
  });

  it('an export describes a VM with the console type it has', () => {
    const row = {
      id: vmEntity.id,
      name: 'h1',
      cpus: 1,
      memory_mib: 256,
      os_type: 'debian',
      boot_order: ['disk'],
      cdrom_image: null,
      cdrom_storage_domain_id: null,
      cdrom_file: null,
      nics: [],
      created_at: new Date('2026-11-24T00:00:00Z'),
    };
    const of = (console_type: string) =>
      vmOvf({ ...row, console_type } as unknown as VmRow, [], false).entity.console;
    expect(of('serial')).toBe('serial');
    expect(of('vnc')).toBe('vnc');
  });
});
