import { normalizeBaseUrl } from '@vireo/client';
import { usageError } from '../../framework/errors';
import type { CommandSpec } from '../../framework/spec';
import { login } from '../auth/login';

/** `connect [URL]`: use a saved profile for URL (or --profile), logging in when it has no token. */
export const connect: CommandSpec = {
  path: ['connect'],
  summary: 'connect the shell to an engine (logs in when needed)',
  shellOnly: true,
  args: [
    { name: 'url', description: 'engine URL; default: the profile given with --profile, or the current one' },
  ],
  options: login.options ?? [],
  async run(ctx) {
    const s = ctx.session;
    const url = ctx.args[0] as string | undefined;
    let name: string | undefined = ctx.opts.profile as string | undefined;
    if (url && !name) name = s.store.findByUrl(normalizeBaseUrl(url).href);
    if (!url && !name) name = s.profileName();
    const profile = name ? s.store.load(name) : undefined;
    if (!profile?.token || (url && profile.url !== normalizeBaseUrl(url).href)) {
      if (!url && !profile) throw usageError('connect needs a URL (or --profile NAME of a saved profile)');
      s.disconnected = false;
      return login.run({ ...ctx, args: [url ?? profile?.url], opts: { ...ctx.opts, profile: name } });
    }
    s.disconnected = false;
    s.shellProfile = profile.name;
    const { client } = await s.connect(profile.name);
    try {
      const me = await client.whoami(s.signal);
      s.info(`connected to ${client.origin} as ${me.username} (profile ${profile.name})`);
    } catch (err) {
      s.disconnected = true;
      throw err;
    }
    return 0;
  },
};

export const disconnect: CommandSpec = {
  path: ['disconnect'],
  summary: 'disconnect the shell (the saved token stays; logout revokes it)',
  shellOnly: true,
  async run(ctx) {
    const s = ctx.session;
    s.disconnected = true;
    await s.close();
    s.info('disconnected');
    return 0;
  },
};

export const exit: CommandSpec = {
  path: ['exit'],
  aliases: ['quit'],
  summary: 'leave the shell',
  shellOnly: true,
  args: [{ name: 'status', description: 'exit status (default 0)' }],
  async run(ctx) {
    const raw = ctx.args[0];
    const status = raw === undefined ? 0 : Number(raw);
    if (!Number.isInteger(status) || status < 0 || status > 255)
      throw usageError('exit status must be 0–255');
    ctx.session.exitRequested = status;
    return status;
  },
};
