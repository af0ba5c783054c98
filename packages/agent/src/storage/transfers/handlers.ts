import type { MethodHandlers } from '../../rpc/handlers';
import type { TransferManager } from './manager';

/** The `transfer.*` RPC methods, bound to the agent's transfer manager. */
export function transferHandlers(manager: TransferManager): MethodHandlers {
  return {
    'transfer.start': (p) => manager.start(p),
    'transfer.status': (p) => manager.status(p.transfer_id),
    'transfer.finalize': (p) => manager.finalize(p),
    'transfer.cancel': (p) => manager.cancel(p.transfer_id),
  };
}
