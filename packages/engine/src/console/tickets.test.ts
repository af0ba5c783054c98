import { describe, expect, it } from 'vitest';
import { ConsoleTickets, vncPasswordOf } from './tickets';

describe('ConsoleTickets', () => {
  const grant = { userId: 'u1', vmId: 'vm1', hostId: 'h1', type: 'serial' as const };

  it('a ticket opens once, for its grant', () => {
    const t = new ConsoleTickets();
    const { ticket } = t.issue(grant);
    expect(ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(t.consume(ticket)).toMatchObject(grant);
    expect(t.consume(ticket)).toBeUndefined();
  });

  it('an expired ticket fails, and unknown or malformed ones too', () => {
    let now = 1_000_000;
    const t = new ConsoleTickets(120_000, () => now);
    const { ticket, expiresAt } = t.issue(grant);
    expect(expiresAt.getTime()).toBe(now + 120_000);
    now += 120_000;
    expect(t.consume(ticket)).toBeUndefined();
    expect(t.consume('x'.repeat(43))).toBeUndefined();
    expect(t.consume('')).toBeUndefined();
  });

  it('keeps only hashes and sweeps expired tickets', () => {
    let now = 0;
    const t = new ConsoleTickets(10, () => now);
    const { ticket } = t.issue(grant);
    expect(JSON.stringify([...(t as unknown as { grants: Map<string, unknown> }).grants])).not.toContain(
      ticket,
    );
    now = 11;
    t.issue(grant);
    expect(t.size).toBe(1);
  });

  it('the VNC password is the ticket\u2019s first 8 characters', () => {
    expect(vncPasswordOf('abcdefghijk')).toBe('abcdefgh');
  });
});
