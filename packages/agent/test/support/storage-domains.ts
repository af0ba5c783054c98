import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentEventName, AgentEventParams, JobProgressEvent } from '@vireo/agent-protocol';
import type { DomainRootResolver } from '../../src/storage/volumes/layout';

/**
 * Storage domains on real files for the agent's storage service tests: a temporary base directory
 * with one root (holding `images/`) per domain id, and what a service takes besides a logger.
 */
export interface TestDomains {
  /** The temporary directory holding every root; {@link TestDomains.remove} deletes it. */
  base: string;
  /** Domain id → its root directory. */
  roots: Map<string, string>;
  /** Resolves an id to its root as the agent's domain registry does; any other id is not active. */
  resolveRoot: DomainRootResolver;
  /** An event emitter for the service that keeps every `job.progress` event in {@link progress}. */
  emit: <E extends AgentEventName>(event: E, params: AgentEventParams<E>) => void;
  progress: JobProgressEvent[];
  remove(): Promise<void>;
}

/**
 * Creates the domains `ids` under a new temporary directory named `prefix…`; each root is
 * `rootOf(base, id)` (default `<base>/<id>`), so a test can place roots at any depth.
 */
export async function createTestDomains(
  prefix: string,
  ids: string[],
  rootOf: (base: string, id: string) => string = (base, id) => join(base, id),
): Promise<TestDomains> {
  const base = await mkdtemp(join(tmpdir(), prefix));
  const roots = new Map<string, string>();
  for (const id of ids) {
    const root = rootOf(base, id);
    await mkdir(join(root, 'images'), { recursive: true });
    roots.set(id, root);
  }
  const progress: JobProgressEvent[] = [];
  return {
    base,
    roots,
    resolveRoot: async (id) => {
      const root = roots.get(id);
      if (!root) throw new Error(`domain ${id} is not active`);
      return root;
    },
    emit: (name, params) => {
      if (name === 'job.progress') progress.push(params as JobProgressEvent);
    },
    progress,
    remove: () => rm(base, { recursive: true, force: true }),
  };
}
