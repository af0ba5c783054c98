import type { CommandSpec } from '../../framework/spec';

export const profileUse: CommandSpec = {
  path: ['profile', 'use'],
  summary: 'make a profile the current one',
  args: [{ name: 'name', description: 'profile name', required: true, complete: { kind: 'profiles' } }],
  async run(ctx) {
    const name = String(ctx.args[0]);
    ctx.session.store.setCurrent(name);
    if (ctx.session.inShell) {
      ctx.session.shellProfile = name;
      ctx.session.disconnected = false;
    }
    ctx.session.info(`now using profile ${name}`);
    return 0;
  },
};
