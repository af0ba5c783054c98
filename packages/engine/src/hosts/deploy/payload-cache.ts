import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type AgentPayload, agentRuntimePackages, createAgentPayload, sha256File } from './payload';

/** Builds in flight, so concurrent deploys share one build. */
const building = new Map<string, Promise<AgentPayload>>();

/**
 * The self-contained payload for the agent bundle at `agentBin` (`…/packages/agent/dist/vireo-agent.js`),
 * built once per bundle version into `cacheDir` and reused. The bundle's size and mtime name the
 * tarball, so a rebuilt agent gets a new payload. The third-party packages come from the nearest
 * `node_modules` above the bundle that holds them (the repository's, in a checkout).
 */
export async function agentPayloadFor(opts: { agentBin: string; cacheDir: string }): Promise<AgentPayload> {
  const info = await stat(opts.agentBin);
  const tarball = join(opts.cacheDir, `vireo-agent-${info.size}-${Math.floor(info.mtimeMs)}.tar.gz`);
  const pending = building.get(tarball);
  if (pending) return pending;
  const work = (async (): Promise<AgentPayload> => {
    if (existsSync(tarball)) return { tarball, sha256: await sha256File(tarball), entry: 'vireo-agent.js' };
    const dist = dirname(opts.agentBin);
    const manifest = JSON.parse(await readFile(join(dist, '..', 'package.json'), 'utf8'));
    const packages = agentRuntimePackages(manifest);
    const nodeModules = findNodeModules(dist, packages[0] ?? 'ws');
    if (!nodeModules) throw new Error(`no node_modules above ${dist} holds the agent's packages`);
    await mkdir(opts.cacheDir, { recursive: true, mode: 0o700 });
    // Written aside and renamed: a crash never leaves a truncated tarball under the final name.
    const partial = `${tarball}.${process.pid}.partial`;
    try {
      const built = await createAgentPayload({
        agentDist: dist,
        nodeModules: { path: nodeModules, packages },
        outFile: partial,
      });
      await rename(partial, tarball);
      return { ...built, tarball };
    } catch (err) {
      await rm(partial, { force: true });
      throw err;
    }
  })();
  building.set(tarball, work);
  try {
    return await work;
  } finally {
    building.delete(tarball);
  }
}

function findNodeModules(from: string, probe: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules');
    if (existsSync(join(candidate, probe, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}
