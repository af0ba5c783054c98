import { describeError } from '../../framework/errors';
import type { CommandSpec } from '../../framework/spec';

export const logout: CommandSpec = {
  path: ['logout'],
  summary: "revoke the profile's token on the engine and delete it locally",
  async run(ctx) {
    const s = ctx.session;
    const name = s.profileName(ctx.opts.profile);
    const profile = s.store.load(name);
    if (!profile?.token) {
      s.info(`profile ${name} is not logged in`);
      return 0;
    }
    let failure: ReturnType<typeof describeError> | undefined;
    try {
      const { client } = await s.connect(name);
      await client.logout(s.signal);
    } catch (err) {
      const d = describeError(err);
      // An expired or already revoked token is logged out as far as anyone can tell.
      if (d.code !== 'unauthenticated' && d.exitCode !== 4) failure = d;
    } finally {
      s.store.forgetToken(name);
      await s.forget(name);
    }
    if (failure) {
      s.info(
        `Error [${failure.code}]: the token was deleted locally but not revoked on the engine: ${failure.message}`,
      );
      return failure.exitCode;
    }
    s.info(`Logged out of ${new URL(profile.url).origin} (profile ${name}).`);
    return 0;
  },
};
