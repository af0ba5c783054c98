import type { CommandSpec } from '../../framework/spec';
import { printList } from '../common/output';

interface ProfileRow {
  name: string;
  current: boolean;
  url: string;
  username?: string;
  logged_in: boolean;
  token_expires_at?: string;
  ca_fingerprint?: string;
}

export const profileList: CommandSpec = {
  path: ['profile', 'list'],
  aliases: ['ls'],
  summary: 'list saved profiles',
  async run(ctx) {
    const s = ctx.session;
    const current = s.profileName(ctx.opts.profile);
    const rows: ProfileRow[] = s.store.names().map((name) => {
      const p = s.store.load(name)!;
      return {
        name,
        current: name === current,
        url: p.url,
        username: p.username,
        logged_in: p.token !== undefined,
        token_expires_at: p.token_expires_at,
        ca_fingerprint: p.ca_fingerprint,
      };
    });
    printList(ctx, rows, [
      { header: '', value: (r) => (r.current ? '*' : ' '), overflow: 'fixed' },
      { header: 'NAME', value: (r) => r.name, minWidth: 8 },
      { header: 'URL', value: (r) => r.url, minWidth: 16 },
      { header: 'USER', value: (r) => r.username, minWidth: 8 },
      { header: 'LOGGED IN', value: (r) => (r.logged_in ? 'yes' : 'no'), overflow: 'fixed' },
    ]);
    return 0;
  },
};
