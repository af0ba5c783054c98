import { describe, expect, it } from 'vitest';
import { freeMemoryMib, type PlacementHost, place } from './place';

const host = (over: Partial<PlacementHost> & { name: string }): PlacementHost => ({
  id: `id-${over.name}`,
  state: 'up',
  memoryTotalMib: 4096,
  committedMib: 0,
  ...over,
});

describe('place()', () => {
  const req = { memoryMib: 1024, overcommitPercent: 100 };

  it.each([
    {
      what: 'first fitting host wins, in the given order',
      hosts: [host({ name: 'a' }), host({ name: 'b' })],
      chosen: 'id-a',
      reasons: [undefined, undefined],
    },
    {
      what: 'a host in maintenance is skipped',
      hosts: [host({ name: 'a', state: 'maintenance' }), host({ name: 'b' })],
      chosen: 'id-b',
      reasons: ['host_in_maintenance', undefined],
    },
    {
      what: 'a host that is not up is skipped',
      hosts: [host({ name: 'a', state: 'non_responsive' }), host({ name: 'b', state: 'connecting' })],
      chosen: null,
      reasons: ['host_not_up', 'host_not_up'],
    },
    {
      what: 'running VMs use up memory',
      hosts: [host({ name: 'a', committedMib: 3500 }), host({ name: 'b', committedMib: 3072 })],
      chosen: 'id-b',
      reasons: ['not_enough_memory', undefined],
    },
    {
      what: 'a host without capabilities is not trusted with a VM',
      hosts: [host({ name: 'a', memoryTotalMib: null })],
      chosen: null,
      reasons: ['no_capabilities'],
    },
    { what: 'no hosts at all', hosts: [], chosen: null, reasons: [] },
  ])('$what', ({ hosts, chosen, reasons }) => {
    const r = place(hosts, req);
    expect(r.ok ? r.hostId : null).toBe(chosen);
    expect(r.verdicts.map((v) => v.reason)).toEqual(reasons);
    expect(r.verdicts.map((v) => v.host_id)).toEqual(hosts.map((h) => h.id));
  });

  it('an exact fit is accepted; one MiB more is not', () => {
    const h = host({ name: 'a', memoryTotalMib: 2048, committedMib: 1024 });
    expect(place([h], { memoryMib: 1024, overcommitPercent: 100 }).ok).toBe(true);
    const r = place([h], { memoryMib: 1025, overcommitPercent: 100 });
    expect(r.ok).toBe(false);
    expect(r.verdicts[0]).toMatchObject({ reason: 'not_enough_memory', free_mib: 1024 });
  });

  it('overcommit lets more guest memory onto a host', () => {
    const h = host({ name: 'a', memoryTotalMib: 1000, committedMib: 1000 });
    expect(freeMemoryMib(h, 100)).toBe(0);
    expect(freeMemoryMib(h, 200)).toBe(1000);
    expect(place([h], { memoryMib: 512, overcommitPercent: 200 }).ok).toBe(true);
  });
});
