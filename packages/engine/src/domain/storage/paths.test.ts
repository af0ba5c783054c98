import { describe, expect, it } from 'vitest';
import { domainRoot, isoPath, metadataPath, relativeBackingPath, volumePath } from './paths';

const D = { id: '11111111-2222-4333-8444-555555555555', path: '/srv/vireo/data/' };
const DISK = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const VOL = '99999999-8888-4777-8666-555555555555';

describe('storage paths', () => {
  it('lays a domain out as <path>/<id>/{dom_md,images}', () => {
    expect(domainRoot(D)).toBe(`/srv/vireo/data/${D.id}`);
    expect(metadataPath(D)).toBe(`/srv/vireo/data/${D.id}/dom_md/metadata.json`);
    expect(volumePath(D, DISK, VOL)).toBe(`/srv/vireo/data/${D.id}/images/${DISK}/${VOL}`);
    expect(isoPath(D, 'guest.iso')).toBe(`/srv/vireo/data/${D.id}/images/iso/guest.iso`);
    expect(relativeBackingPath(DISK, VOL)).toBe(`../${DISK}/${VOL}`);
  });

  it('refuses names that could leave the domain directory', () => {
    expect(() => isoPath(D, '../etc/passwd')).toThrow(TypeError);
    expect(() => isoPath(D, 'a/b.iso')).toThrow(TypeError);
    expect(() => isoPath(D, '.hidden')).toThrow(TypeError);
    expect(() => isoPath(D, 'x..iso')).toThrow(TypeError);
    expect(() => volumePath(D, '..', VOL)).toThrow(TypeError);
    expect(() => volumePath(D, DISK, 'ABC')).toThrow(TypeError);
    expect(() => domainRoot({ id: D.id, path: 'relative/dir' })).toThrow(TypeError);
    expect(() => domainRoot({ id: '../x', path: '/srv' })).toThrow(TypeError);
  });
});
