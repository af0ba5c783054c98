import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { resourceKinds } from '../commands/common/kinds';
import type { Session } from '../framework/session';
import type { CompletionSources } from './engine';

const LOOKUP_TIMEOUT_MS = 3000;

/** Completion candidates fetched live from the engine of the session's profile. */
export function sessionSources(session: Session): CompletionSources {
  return {
    async resourceNames(resource, prefix, profile) {
      const kind = resourceKinds[resource];
      if (!kind) return [];
      try {
        const { client } = await session.connect(profile);
        const signal = AbortSignal.timeout(LOOKUP_TIMEOUT_MS);
        if (kind.named) return await kind.api(client).names(prefix, 200, signal);
        const page = await kind.api(client).list({ limit: 50 }, signal);
        return page.items.map((o) => o.id);
      } catch {
        return [];
      }
    },
    profileNames() {
      try {
        return session.store.names();
      } catch {
        return [];
      }
    },
    files(prefix) {
      const dir = prefix.endsWith('/') ? prefix : dirname(prefix);
      const base = prefix.endsWith('/') ? '' : basename(prefix);
      try {
        return readdirSync(dir === '' ? '.' : dir)
          .filter((f) => f.startsWith(base))
          .map((f) => {
            const full = dir === '.' && !prefix.startsWith('./') ? f : join(dir, f);
            return statSync(full).isDirectory() ? `${full}/` : full;
          });
      } catch {
        return [];
      }
    },
  };
}
