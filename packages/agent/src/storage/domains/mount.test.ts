import { describe, expect, it } from 'vitest';
import { mountedFsType, nfsMountArgv, nfsOptions } from './mount';

describe('nfs mount argv', () => {
  it('merges options over safe defaults', () => {
    expect(nfsOptions(undefined)).toBe('soft,timeo=100,retrans=3,nosharecache');
    expect(nfsOptions('hard,nfsvers=4.1')).toBe('timeo=100,retrans=3,nosharecache,hard,nfsvers=4.1');
    expect(nfsOptions('timeo=600')).toBe('soft,retrans=3,nosharecache,timeo=600');
  });

  it('builds an argv list, brackets IPv6 servers, refuses option injection', () => {
    expect(nfsMountArgv({ server: 'fd00::5', export: '/x', mountPoint: '/m' })).toEqual([
      '-t',
      'nfs',
      '-o',
      'soft,timeo=100,retrans=3,nosharecache',
      '[fd00::5]:/x',
      '/m',
    ]);
    expect(nfsMountArgv({ server: '[fd00::5]', export: '/x', mountPoint: '/m' })[4]).toBe('[fd00::5]:/x');
    expect(() => nfsMountArgv({ server: 'a', export: '/x', mountPoint: '/m', options: '-oexec' })).toThrow();
  });

  it('reads the file system mounted at a path from mountinfo', async () => {
    expect(await mountedFsType('/proc')).toBe('proc');
    expect(await mountedFsType('/proc/self')).toBeUndefined();
  });
});
