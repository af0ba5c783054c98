import { sql } from 'kysely';
import type { Executor } from '../schema';

/** Where the engine reaches a host's agent (its certificate names `address`). */
export async function findAgentEndpoint(
  ex: Executor,
  hostId: string,
): Promise<{ address: string; port: number } | undefined> {
  const { rows } = await sql<{ address: string; agent_port: number }>`
    SELECT address, agent_port FROM hosts WHERE id = ${hostId}`.execute(ex);
  const r = rows[0];
  return r ? { address: r.address, port: r.agent_port } : undefined;
}
