import { describe, expect, it } from 'vitest';
import { cdromColumns, cdromOf, cdromPath } from './cdrom';

const DOMAIN = { id: '11111111-2222-4333-8444-555555555555', path: '/srv/isos' };

describe('VM CD-ROM from an ISO domain', () => {
  it('maps the API forms to columns and back', () => {
    const fromDomain = { storage_domain_id: DOMAIN.id, file: 'boot.iso' };
    expect(cdromColumns(fromDomain)).toEqual({
      cdrom_image: null,
      cdrom_storage_domain_id: DOMAIN.id,
      cdrom_file: 'boot.iso',
    });
    expect(cdromOf(cdromColumns(fromDomain))).toEqual(fromDomain);
    expect(cdromOf(cdromColumns({ image: 'old.iso' }))).toEqual({ image: 'old.iso' });
    expect(cdromOf(cdromColumns(null))).toBeNull();
  });

  it('resolves the host path inside the domain, and refuses a missing or other domain', () => {
    const vm = cdromColumns({ storage_domain_id: DOMAIN.id, file: 'boot.iso' });
    expect(cdromPath(vm, '/var/iso', DOMAIN)).toBe(`/srv/isos/${DOMAIN.id}/images/iso/boot.iso`);
    expect(() => cdromPath(vm, '/var/iso')).toThrow(/was not given/);
    expect(() =>
      cdromPath(vm, '/var/iso', { ...DOMAIN, id: 'aaaaaaaa-2222-4333-8444-555555555555' }),
    ).toThrow();
    expect(cdromPath(cdromColumns({ image: 'old.iso' }), '/var/iso')).toBe('/var/iso/old.iso');
    expect(cdromPath(cdromColumns(null), '/var/iso')).toBeNull();
  });
});
