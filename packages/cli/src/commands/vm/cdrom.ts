import type { VireoClient } from '@vireo/client';
import { usageError } from '../../framework/errors';
import { resolveByName } from '../image/resolve';

/** Help text of `--cdrom` (vm create, vm update). */
export const CDROM_HELP =
  'ISO-DOMAIN:FILE — a file of an ISO domain (e.g. local-iso:debian.iso, see `vireo sd isos`); ' +
  'a bare FILE is looked up in the engine’s legacy ISO directory (VIREO_ISO_DIR)';

/**
 * The `cdrom` body of `POST/PATCH /vms` for a `--cdrom` value: `DOMAIN:FILE` names a file of an
 * ISO domain (the domain by name or id); a bare name keeps the older `{image}` form, a file in the
 * engine's ISO directory. Files uploaded with `vireo image upload` live in ISO domains, so the
 * prefixed form is the one people need.
 */
export async function cdromBody(
  value: string,
  connect: () => Promise<VireoClient>,
  signal?: AbortSignal,
): Promise<{ image: string } | { storage_domain_id: string; file: string }> {
  const colon = value.indexOf(':');
  if (colon < 0) return { image: value };
  const domain = value.slice(0, colon);
  const file = value.slice(colon + 1);
  if (domain === '' || file === '') {
    throw usageError(`--cdrom ${value}: expected ISO-DOMAIN:FILE, e.g. local-iso:debian.iso`);
  }
  const found = await resolveByName(await connect(), 'storage-domains', domain, signal);
  return { storage_domain_id: found.id, file };
}
