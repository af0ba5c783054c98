import { describe, expect, it } from 'vitest';
import { isSupportedOs, parseOsRelease } from './os-release';

describe('parseOsRelease', () => {
  it('reads quoted and unquoted values and accepts Debian 12 only', () => {
    const debian = parseOsRelease(
      'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n# comment\n',
    );
    expect(debian).toEqual({ id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' });
    expect(isSupportedOs(debian)).toBe(true);
    expect(isSupportedOs(parseOsRelease("ID=debian\nVERSION_ID='11'\n"))).toBe(false);
    expect(isSupportedOs(parseOsRelease('ID=ubuntu\nVERSION_ID="12"\n'))).toBe(false);
    expect(isSupportedOs(parseOsRelease(''))).toBe(false);
  });

  it('unescapes shell escapes inside double quotes', () => {
    expect(parseOsRelease('PRETTY_NAME="A \\"quoted\\" name"').prettyName).toBe('A "quoted" name');
  });
});
