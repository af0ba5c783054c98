import { describe, expect, it } from 'vitest';
import { consoleSocketUrl, frameBytes, requestTicket, vncPassword } from './ticket';

describe('console tickets', () => {
  it('asks the engine for a ticket of the given kind for the VM', async () => {
    const calls: [string, unknown][] = [];
    const api = {
      create: async (path: string, body: unknown) => {
        calls.push([path, body]);
        return {
          kind: 'done' as const,
          status: 201,
          value: {
            type: 'vnc',
            ticket: 'abcdefghijkl',
            ws_url: '/api/v1/console/ws?ticket=abcdefghijkl',
            expires_at: '',
          },
        };
      },
    };
    const t = await requestTicket(api as never, 'vm/1', 'vnc');
    expect(calls).toEqual([['/vms/vm%2F1/console', { type: 'vnc' }]]);
    expect(t.ticket).toBe('abcdefghijkl');
  });

  it('refuses an answer that is not a ticket', async () => {
    const api = { create: async () => ({ kind: 'done' as const, status: 201, value: { nope: 1 } }) };
    await expect(requestTicket(api as never, 'v', 'serial')).rejects.toThrow(/console ticket/);
  });

  it('opens the WebSocket on the page origin, wss on https', () => {
    const path = '/api/v1/console/ws?ticket=x';
    expect(consoleSocketUrl({ protocol: 'https:', host: 'engine:8443' }, path)).toBe(
      `wss://engine:8443${path}`,
    );
    expect(consoleSocketUrl({ protocol: 'http:', host: '127.0.0.1:8080' }, path)).toBe(
      `ws://127.0.0.1:8080${path}`,
    );
  });

  it('never sends a ticket to another host', () => {
    const loc = { protocol: 'https:', host: 'engine' };
    expect(() => consoleSocketUrl(loc, 'wss://evil.example/x')).toThrow();
    expect(() => consoleSocketUrl(loc, '//evil.example/x')).toThrow();
    expect(() => consoleSocketUrl(loc, '/\\evil.example')).toThrow();
  });

  it('uses the first 8 characters of the ticket as the VNC password', () => {
    expect(vncPassword('0123456789abcdef')).toBe('01234567');
  });

  it('turns WebSocket frames into bytes for the terminal', () => {
    expect(frameBytes(new Uint8Array([104, 105]).buffer)).toEqual(new Uint8Array([104, 105]));
    expect(frameBytes('hé')).toEqual(new Uint8Array([104, 0xc3, 0xa9]));
    expect(frameBytes(42)).toBeNull();
  });
});
