import type { CommandSpec } from '../../framework/spec';

export const profileRemove: CommandSpec = {
  path: ['profile', 'remove'],
  aliases: ['rm', 'delete'],
  summary: 'revoke the token of a profile (best effort) and delete the profile',
  args: [{ name: 'name', description: 'profile name', required: true, complete: { kind: 'profiles' } }],
  async run(ctx) {
    const s = ctx.session;
    const name = String(ctx.args[0]);
    const profile = s.store.load(name);
    if (profile?.token) {
      try {
        const { client } = await s.connect(name);
        await client.logout(AbortSignal.any([s.signal, AbortSignal.timeout(5000)]));
      } catch (err) {
        s.info(
          `warning: could not revoke the token of ${name} on the engine (${(err as { code?: string }).code ?? 'error'})`,
        );
      }
      await s.forget(name);
    }
    s.store.remove(name);
    if (s.shellProfile === name) s.shellProfile = undefined;
    s.info(`removed profile ${name}`);
    return 0;
  },
};
