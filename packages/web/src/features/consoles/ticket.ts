import type { VmConsoleTicket } from '@vireo/api';
import type { VireoClient } from '@vireo/client';

export type ConsoleType = 'vnc' | 'serial';

/**
 * Asks the engine for a one-time console ticket (`POST /vms/{id}/console`). Tickets open one
 * connection only and expire (120 s by default), so every (re)connect asks for a new one.
 */
export async function requestTicket(
  api: Pick<VireoClient, 'create'>,
  vmId: string,
  type: ConsoleType,
): Promise<VmConsoleTicket> {
  const res = await api.create<VmConsoleTicket>(`/vms/${encodeURIComponent(vmId)}/console`, { type });
  if (res.kind !== 'done' || !res.value || typeof res.value.ws_url !== 'string') {
    throw new Error('the engine did not answer with a console ticket');
  }
  return res.value;
}

/**
 * The WebSocket URL of a ticket: the engine's own host (the page's origin — the engine checks the
 * Origin header) with `wss:` on an HTTPS page. Only a same-origin absolute path is accepted, so a
 * tampered answer cannot send the ticket to another host.
 */
export function consoleSocketUrl(location: { protocol: string; host: string }, wsUrl: string): string {
  if (!wsUrl.startsWith('/') || wsUrl.startsWith('//') || wsUrl.includes('\\')) {
    throw new Error('console ticket has an unexpected WebSocket path');
  }
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${wsUrl}`;
}

/** QEMU's VNC authentication uses 8 characters: the ticket's first 8 are the password. */
export function vncPassword(ticket: string): string {
  return ticket.slice(0, 8);
}

/** Bytes the guest sent, as xterm.js takes them (UTF-8). Text frames are encoded; anything else is dropped. */
export function frameBytes(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (typeof data === 'string') return new TextEncoder().encode(data);
  return null;
}
