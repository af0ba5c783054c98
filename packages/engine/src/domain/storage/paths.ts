import { posix } from 'node:path';

/**
 * Where a storage domain's files live on its hosts (ADR 017). Every domain is one directory
 * `<path>/<domain_id>/` holding `dom_md/metadata.json` and `images/`; a volume is
 * `images/<disk_id>/<volume_id>` (one directory per disk, its snapshot chain inside), an ISO domain's
 * files are `images/iso/<file>`. Pure string functions: the engine resolves every reference to a host
 * path here so the agent never looks anything up. Paths are POSIX (hosts are Linux).
 */

/** The fields of a domain row that locate it on storage. */
export interface DomainLocation {
  id: string;
  /** local/posix: the parent directory; nfs: the agent's mount point. */
  path: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** ISO file names: one path component, no hidden files, no `..`. */
export const ISO_FILE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

function checkId(what: string, id: string): string {
  // Ids come from our own rows, but a path built from a non-UUID could escape the domain directory.
  if (!UUID_RE.test(id)) throw new TypeError(`${what} is not a lower-case UUID: ${JSON.stringify(id)}`);
  return id;
}

/** `<path>/<domain_id>`: the domain's own directory. */
export function domainRoot(d: DomainLocation): string {
  if (!posix.isAbsolute(d.path)) throw new TypeError(`storage domain path is not absolute: ${d.path}`);
  return posix.join(posix.normalize(d.path), checkId('domain id', d.id));
}

/** `<root>/dom_md/metadata.json`: the domain's self-description on storage. */
export function metadataPath(d: DomainLocation): string {
  return posix.join(domainRoot(d), 'dom_md', 'metadata.json');
}

/** `<root>/images/<disk_id>`: one disk's directory (its volume chain). */
export function diskDir(d: DomainLocation, diskId: string): string {
  return posix.join(domainRoot(d), 'images', checkId('disk id', diskId));
}

/** `<root>/images/<disk_id>/<volume_id>`: one volume of a disk. */
export function volumePath(d: DomainLocation, diskId: string, volumeId: string): string {
  return posix.join(diskDir(d, diskId), checkId('volume id', volumeId));
}

/**
 * How a volume names a backing volume of another disk in the same domain (a template's base under a
 * thin clone): relative, so the chain stays valid wherever the domain is mounted.
 */
export function relativeBackingPath(diskId: string, volumeId: string): string {
  return posix.join('..', checkId('disk id', diskId), checkId('volume id', volumeId));
}

/** `<root>/images/iso`: an ISO domain's files. */
export function isoDir(d: DomainLocation): string {
  return posix.join(domainRoot(d), 'images', 'iso');
}

/** `<root>/images/iso/<file>`: one ISO file. */
export function isoPath(d: DomainLocation, fileName: string): string {
  if (!ISO_FILE_RE.test(fileName) || fileName.includes('..')) {
    throw new TypeError(`not an ISO file name: ${JSON.stringify(fileName)}`);
  }
  return posix.join(isoDir(d), fileName);
}
