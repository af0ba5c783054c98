import type { HealthReport } from '@vireo/api';
import type { Logger } from 'pino';
import type { Db } from '../db/schema';
import type { Events } from '../events';
import type { Operations } from '../operations';
import type { Services } from '../services';
import type { RegistrationService } from '../services/domain-registration';
import type { ExportService } from '../services/exports';
import type { ConsoleService } from '../console/service';
import type { StatsHistory } from '../stats/history';
import type { TransferService } from '../transfers/service';

export type { HealthReport };

/** Everything `buildApp()` needs; the composition root (main.ts) or a test builds it. */
export interface AppDeps {
  db: Db;
  /** The engine's pino logger; the app logs through a child with secrets redacted. */
  log: Logger;
  /** Engine version reported by /health and the OpenAPI document. */
  version: string;
  /** The internal CA certificate served at /pki/ca.pem. */
  caPem: string;
  /** Database and migration state for /health. Must not throw. */
  health(): Promise<HealthReport>;
  /** Mark the session cookie `Secure` (and send HSTS). False only in plain-HTTP mode. */
  cookieSecure: boolean;
  services: Services;
  /** engine-ops: audit log, LISTEN connection and live event fan-out (routes/events.ts). */
  events: Events;
  /** engine-ops: operations (routes/operations.ts, 202 answers of every route). */
  operations: Operations;
  /** VM consoles (tickets + WebSocket proxy); without it console requests answer `unavailable`. */
  consoles?: ConsoleService;
  /** Short history of agent stats (routes/stats.ts); without it the history routes answer empty lists. */
  stats?: StatsHistory;
  /** Image uploads and downloads (routes/image-transfers.ts); without it those routes answer `unavailable`. */
  transfers?: TransferService;
  /** Registration of what imported data domains hold (routes/domain-registration.ts); without it: `unavailable`. */
  registration?: RegistrationService;
  /** Export and import of VMs and templates (routes/exports.ts); without it those routes answer `unavailable`. */
  exports?: ExportService;
  /** Largest JSON body accepted, in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** The built web portal served at `/` (plugins/web.ts); unset: no portal routes (tests). */
  webRoot?: string;
  /** Trust `X-Forwarded-For` from a reverse proxy when deciding the client address (default false). */
  trustProxy?: boolean;
}
