import { Forbidden } from '../errors';
import type { Principal } from './principal';

/** Verbs on objects. `<kind>.<verb>`; list/read are distinct so roles can grant read-only access. */
export type Action =
  | 'datacenter.list'
  | 'datacenter.read'
  | 'datacenter.create'
  | 'datacenter.update'
  | 'datacenter.delete'
  | 'cluster.list'
  | 'cluster.read'
  | 'cluster.create'
  | 'cluster.update'
  | 'cluster.delete'
  | 'operation.list'
  | 'operation.read'
  | 'operation.cancel'
  | 'event.list'
  | 'event.read'
  | 'system.read'
  | 'session.read'
  | 'session.delete';

/** Actions on one's own session: every authenticated user may do these. */
const SELF_SERVICE = new Set<string>(['session.read', 'session.delete']);

/** What the action applies to: a kind, and the object's id when there is one. */
export interface AuthzObject {
  kind: string;
  id?: string;
  /** The parent chain (e.g. the cluster's data center) so scoped roles can match later. */
  parents?: { kind: string; id: string }[];
}

/**
 * The single permission check point: every route asks it before acting. Until roles and
 * permissions exist, administrators may do everything and other users nothing. Throws
 * {@link Forbidden} (`forbidden`) when denied.
 */
export function authorize(principal: Principal, action: Action | string, object: AuthzObject): void {
  if (principal.isAdmin) return;
  if (SELF_SERVICE.has(action) && object.kind === 'session' && object.id === principal.tokenId) return;
  throw new Forbidden('forbidden', `${principal.username} may not ${action} this ${object.kind}`, {
    details: { action, object: { kind: object.kind, ...(object.id ? { id: object.id } : {}) } },
  });
}

/** Non-throwing variant, e.g. to filter what a list shows. */
export function isAuthorized(principal: Principal, action: Action | string, object: AuthzObject): boolean {
  try {
    authorize(principal, action, object);
    return true;
  } catch (err) {
    if (err instanceof Forbidden) return false;
    throw err;
  }
}
