import { describe, expect, it } from 'vitest';
import { place } from '../place';
import { seesStorage, storageNeeds } from './storage';

const host = (id: string) => ({ id, name: id, state: 'up', memoryTotalMib: 4096, committedMib: 0 });

describe('storage filter', () => {
  it.each([
    ['no disks', [], 'h1', true],
    ['a shared (posix) domain', [{ backend: 'posix', host_id: null }], 'h1', true],
    ['a local domain of this host', [{ backend: 'local', host_id: 'h1' }], 'h1', true],
    ['a local domain of another host', [{ backend: 'local', host_id: 'h2' }], 'h1', false],
    [
      'local domains of two hosts (no host sees both)',
      [
        { backend: 'local', host_id: 'h1' },
        { backend: 'local', host_id: 'h2' },
      ],
      'h1',
      false,
    ],
  ])('%s', (_what, domains, hostId, ok) => {
    expect(seesStorage(hostId, storageNeeds(domains))).toBe(ok);
  });

  it('place() skips hosts that do not see the disks, with a reason', () => {
    const result = place([host('h1'), host('h2')], {
      memoryMib: 256,
      overcommitPercent: 100,
      storage: storageNeeds([{ backend: 'local', host_id: 'h2' }]),
    });
    expect(result).toMatchObject({ ok: true, hostId: 'h2' });
    expect(result.verdicts[0]).toMatchObject({
      host_id: 'h1',
      accepted: false,
      reason: 'storage_not_reachable',
    });
  });
});
