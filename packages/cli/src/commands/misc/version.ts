import { VireoClient } from '@vireo/client';
import type { CommandSpec } from '../../framework/spec';
import { CLI_VERSION } from '../../framework/session';
import { printObject } from '../common/output';

export const version: CommandSpec = {
  path: ['version'],
  summary: "print the CLI's version and, when a profile is set up, the engine's",
  async run(ctx) {
    const out: Record<string, unknown> = { cli: CLI_VERSION, node: process.version };
    const s = ctx.session;
    const profile = s.store.load(s.profileName(ctx.opts.profile));
    if (profile) {
      // /health is public: the engine's version shows even when logged out.
      const client = new VireoClient({ baseUrl: profile.url, ca: profile.caPem, timeoutMs: 5000 });
      try {
        const health = await client.health(s.signal);
        out.engine = health.version ?? 'unknown';
        out.engine_url = profile.url;
      } catch (err) {
        out.engine = `unreachable (${(err as { code?: string }).code ?? 'error'})`;
      } finally {
        await client.close();
      }
    }
    printObject(ctx, out);
    return 0;
  },
};
