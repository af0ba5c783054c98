import { createHash, randomBytes } from 'node:crypto';

export type ConsoleType = 'vnc' | 'serial';

/** What a ticket grants: one console of one VM, to one user, once, briefly. */
export interface ConsoleGrant {
  userId: string;
  vmId: string;
  hostId: string;
  type: ConsoleType;
  expiresAt: number;
}

/** Longest a ticket lives; a console client connects right after asking for it. */
export const CONSOLE_TICKET_TTL_MS = 120_000;

/** `VIREO_CONSOLE_TICKET_TTL_MS` (1000–120000; shorter lets tests see expiry), else the default. */
export function consoleTicketTtlMs(env: NodeJS.ProcessEnv): number {
  const raw = env.VIREO_CONSOLE_TICKET_TTL_MS;
  if (!raw) return CONSOLE_TICKET_TTL_MS;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 1000 || ms > CONSOLE_TICKET_TTL_MS) {
    throw new Error(`VIREO_CONSOLE_TICKET_TTL_MS must be an integer from 1000 to ${CONSOLE_TICKET_TTL_MS}`);
  }
  return ms;
}

const hash = (ticket: string) => createHash('sha256').update(ticket).digest();

/**
 * One-time console tickets. Only the SHA-256 of a ticket is kept (a heap dump does not open
 * consoles); `consume` removes it, so a ticket opens one connection. Kept in memory: a console
 * connects to the engine that issued its ticket, and a restart simply invalidates open tickets.
 */
export class ConsoleTickets {
  private readonly grants = new Map<string, ConsoleGrant>();

  constructor(
    private readonly ttlMs = CONSOLE_TICKET_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * A new ticket: 32 random bytes, base64url. Its first 8 characters double as the VNC password
   * (printable ASCII, what RFB's 8-byte DES key takes).
   */
  issue(grant: Omit<ConsoleGrant, 'expiresAt'>): { ticket: string; expiresAt: Date } {
    this.sweep();
    const ticket = randomBytes(32).toString('base64url');
    const expiresAt = this.now() + this.ttlMs;
    this.grants.set(hash(ticket).toString('hex'), { ...grant, expiresAt });
    return { ticket, expiresAt: new Date(expiresAt) };
  }

  /** The grant of a valid ticket, removing it; undefined when unknown, used or expired. */
  consume(ticket: string): ConsoleGrant | undefined {
    if (typeof ticket !== 'string' || ticket.length !== 43) return undefined;
    const key = hash(ticket).toString('hex');
    const grant = this.grants.get(key);
    if (!grant) return undefined;
    this.grants.delete(key);
    return grant.expiresAt > this.now() ? grant : undefined;
  }

  get size(): number {
    return this.grants.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, g] of this.grants) if (g.expiresAt <= now) this.grants.delete(k);
  }
}

/** The VNC password a ticket implies. */
export function vncPasswordOf(ticket: string): string {
  return ticket.slice(0, 8);
}

/**
 * A request URL fit for logs: the console endpoint carries its ticket in the query string (browsers
 * cannot set headers on a WebSocket), so that query is replaced. Other URLs pass unchanged.
 */
export function redactConsoleUrl(url: string): string {
  return url.startsWith('/api/v1/console/') && url.includes('?')
    ? `${url.slice(0, url.indexOf('?'))}?[redacted]`
    : url;
}
