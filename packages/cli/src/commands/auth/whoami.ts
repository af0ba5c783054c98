import type { CommandSpec } from '../../framework/spec';
import { printObject } from '../common/output';

export const whoami: CommandSpec = {
  path: ['whoami'],
  summary: 'show who the current profile is logged in as',
  async run(ctx) {
    const { client, profile } = await ctx.session.connect(ctx.opts.profile);
    const me = await client.whoami(ctx.session.signal);
    printObject(ctx, {
      profile: profile.name,
      url: profile.url,
      ...me,
      token_expires_at: profile.token_expires_at,
    });
    return 0;
  },
};
