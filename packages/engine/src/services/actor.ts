/** Who a service call acts for, for audit events. A request's Principal is one. */
export interface Actor {
  userId: string | null;
  username: string;
}

/** Internal callers (setup, controllers) that act for no user. */
export const SYSTEM_ACTOR: Actor = { userId: null, username: 'system' };
