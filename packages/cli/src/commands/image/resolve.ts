import { isUuid, type VireoClient } from '@vireo/client';
import { CliError, ExitCode } from '../../framework/errors';

/** Finds a storage domain or disk by id or exact name (`kind` is the collection, e.g. `storage-domains`). */
export async function resolveByName(
  client: VireoClient,
  collection: 'storage-domains' | 'disks',
  nameOrId: string,
  signal?: AbortSignal,
): Promise<{ id: string; name: string }> {
  if (isUuid(nameOrId)) return { id: nameOrId, name: nameOrId };
  const page = await client.list<{ id: string; name: string }>(
    `/${collection}`,
    { search: nameOrId, limit: 500 },
    signal,
  );
  const matches = page.items.filter((i) => i.name === nameOrId);
  const what = collection === 'disks' ? 'disk' : 'storage domain';
  if (matches.length === 0)
    throw new CliError('not_found', `no ${what} named ${nameOrId}`, ExitCode.notFound);
  if (matches.length > 1) {
    throw new CliError(
      'ambiguous_name',
      `several ${what}s are named ${nameOrId}; give the id`,
      ExitCode.usage,
    );
  }
  return matches[0] as { id: string; name: string };
}
