import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { AgentCallFailed } from '../agents/hub';
import type { AgentHub } from '../agents/types';
import { findAgentEndpoint } from '../db/repositories/vms-console';
import { findVm } from '../db/repositories/vms';
import type { Db } from '../db/schema';
import { Conflict, NotFound, Unavailable } from '../errors';
import { type ConsoleTickets, type ConsoleType, vncPasswordOf } from './tickets';

/** The engine's WebSocket endpoint for consoles. */
export const CONSOLE_WS_PATH = '/api/v1/console/ws';

export interface ConsoleOpened {
  type: ConsoleType;
  /** Single use, ≤ 120 s. For VNC its first 8 characters are the VNC password. */
  ticket: string;
  ws_url: string;
  expires_at: string;
}

export interface ConsoleService {
  /**
   * A ticket for one console of a running VM.
   * @throws NotFound `vm_not_found`, Conflict `vm_invalid_state`, Conflict `console_unavailable`
   *   (VNC on a VM running headless), Unavailable `host_not_connected`
   */
  open(userId: string, vmId: string, type: ConsoleType): Promise<ConsoleOpened>;
  /** Serves `CONSOLE_WS_PATH` upgrades on the app's server (see http/server.ts). */
  attach(server: Server): void;
}

/**
 * Consoles: tickets, and the WebSocket proxy browser ↔ engine ↔ agent (mTLS, engine client
 * certificate) ↔ QEMU. Tickets travel in the query string, so this endpoint never logs URLs.
 */
export function createConsoleService(deps: {
  db: Db;
  hub: AgentHub;
  tickets: ConsoleTickets;
  /** The engine's agent-client identity and the CA agents' certificates chain to (PEM). */
  tls: () => { ca: string; cert: string; key: string };
  log: Logger;
}): ConsoleService {
  const log = deps.log.child({ module: 'engine:console' });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1 << 20 });

  const refuse = (socket: Duplex, status: string): void => {
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };

  /** Browsers send Origin; it must be this engine (a page elsewhere must not use a leaked ticket). */
  function originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  }

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://engine');
    if (url.pathname !== CONSOLE_WS_PATH) return refuse(socket, '404 Not Found');
    if (!originAllowed(req)) return refuse(socket, '403 Forbidden');
    const grant = deps.tickets.consume(url.searchParams.get('ticket') ?? '');
    if (!grant) return refuse(socket, '401 Unauthorized');
    const endpoint = await findAgentEndpoint(deps.db, grant.hostId);
    if (!endpoint) return refuse(socket, '404 Not Found');
    const tls = deps.tls();
    const upstream = new WebSocket(
      `wss://${endpoint.address}:${endpoint.port}/console/v1/${grant.vmId}?type=${grant.type}`,
      { ca: tls.ca, cert: tls.cert, key: tls.key, perMessageDeflate: false, handshakeTimeout: 10_000 },
    );
    const clog = log.child({
      vmId: grant.vmId,
      hostId: grant.hostId,
      type: grant.type,
      userId: grant.userId,
    });
    upstream.once('error', (err) => {
      clog.warn({ err: err.message }, 'console: the agent refused or is unreachable');
      if (socket.writable) refuse(socket, '502 Bad Gateway');
    });
    upstream.once('open', () => {
      wss.handleUpgrade(req, socket, head, (client) => {
        clog.info('console opened');
        client.on('message', (data, isBinary) => upstream.send(data, { binary: isBinary }));
        upstream.on('message', (data, isBinary) => client.send(data, { binary: isBinary }));
        const closeBoth = () => {
          if (client.readyState === WebSocket.OPEN) client.close();
          if (upstream.readyState === WebSocket.OPEN) upstream.close();
        };
        client.on('close', () => {
          clog.info('console closed');
          closeBoth();
        });
        upstream.on('close', closeBoth);
        client.on('error', closeBoth);
        upstream.on('error', closeBoth);
      });
    });
  }

  return {
    async open(userId, vmId, type) {
      const vm = await findVm(deps.db, vmId);
      if (!vm) throw new NotFound('vm_not_found', `VM ${vmId} does not exist`, { details: { id: vmId } });
      if ((vm.state !== 'up' && vm.state !== 'paused') || !vm.host_id) {
        throw new Conflict('vm_invalid_state', `VM ${vm.name} is ${vm.state}; a console needs it running`, {
          details: { id: vm.id, state: vm.state, allowed_states: ['up', 'paused'] },
        });
      }
      if (!deps.hub.isConnected(vm.host_id)) {
        throw new Unavailable('host_not_connected', `the host of VM ${vm.name} is not connected`, {
          details: { vm_id: vm.id, host_id: vm.host_id },
        });
      }
      const { ticket, expiresAt } = deps.tickets.issue({ userId, vmId: vm.id, hostId: vm.host_id, type });
      if (type === 'vnc') {
        const validS = Math.max(1, Math.ceil((expiresAt.getTime() - Date.now()) / 1000));
        try {
          await deps.hub.call(vm.host_id, 'vm.console', {
            vm_id: vm.id,
            type: 'vnc',
            password: vncPasswordOf(ticket),
            valid_s: validS,
          });
        } catch (err) {
          deps.tickets.consume(ticket); // never handed out: void it at once
          // The agent knows how the VM runs: `console_type` may have changed since the start
          // (console changes apply at the next start), so its answer decides, not the row.
          if (err instanceof AgentCallFailed && err.agentCode === 'console_unavailable') {
            throw new Conflict(
              'console_unavailable',
              `VM ${vm.name} runs headless (serial console only); VNC comes with console "vnc" at its next start`,
              { cause: err, details: { id: vm.id, console: vm.console_type, available: ['serial'] } },
            );
          }
          throw err;
        }
      }
      return {
        type,
        ticket,
        ws_url: `${CONSOLE_WS_PATH}?ticket=${ticket}`,
        expires_at: expiresAt.toISOString(),
      };
    },

    attach(server) {
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        socket.on('error', () => socket.destroy());
        onUpgrade(req, socket, head).catch((err) => {
          log.error({ err }, 'console upgrade failed');
          if (socket.writable) refuse(socket, '500 Internal Server Error');
        });
      });
    },
  };
}
