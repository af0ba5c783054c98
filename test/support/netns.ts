import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A network namespace joined to the root namespace by a veth pair on a private /30. */
export interface TestNetns {
  name: string;
  /** The root namespace's end (10.254.X.1). */
  hostAddress: string;
  /** The namespace's end (10.254.X.2). */
  nsAddress: string;
  /** Argv prefix that runs a command inside the namespace. */
  execPrefix: string[];
  /** Deletes the namespace and the veth pair; safe to call twice. */
  remove(): Promise<void>;
}

async function ip(...args: string[]): Promise<void> {
  await run('ip', args, { timeout: 10_000 });
}

/** A third octet X such that no interface in the root namespace has an address in 10.254.X.0/24. */
async function freeSubnet(): Promise<number> {
  const { stdout } = await run('ip', ['-4', '-o', 'addr', 'show'], { timeout: 10_000 });
  const used = new Set([...stdout.matchAll(/inet 10\.254\.(\d+)\./g)].map((m) => Number(m[1])));
  for (let i = 0; i < 64; i++) {
    const x = randomBytes(1)[0] ?? 0;
    if (!used.has(x)) return x;
  }
  throw new Error('no free 10.254.X.0/24 subnet for a test namespace');
}

/**
 * Creates a namespace `vireo-<tag>-<random>` with loopback up and a veth pair whose root end gets
 * 10.254.X.1/30 and whose namespace end gets 10.254.X.2/30. X is random, so tests running at the
 * same time do not collide (a collision fails loudly on `ip addr add`). Traffic stays between the
 * two ends: nothing is routed onwards. On failure everything made so far is removed.
 */
export async function createTestNetns(tag: string): Promise<TestNetns> {
  const id = randomBytes(3).toString('hex');
  const name = `vireo-${tag}-${id}`;
  const hostIf = `vh${id}`;
  const nsIf = `vn${id}`;
  const x = await freeSubnet();
  const hostAddress = `10.254.${x}.1`;
  const nsAddress = `10.254.${x}.2`;
  let removed = false;
  const remove = async () => {
    if (removed) return;
    removed = true;
    // Deleting the namespace destroys its veth end, and with it the peer; delete the peer too in case
    // the namespace was never created.
    await ip('netns', 'del', name).catch(() => undefined);
    await ip('link', 'del', hostIf).catch(() => undefined);
  };
  try {
    await ip('netns', 'add', name);
    await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    await ip('link', 'set', nsIf, 'netns', name);
    await ip('addr', 'add', `${hostAddress}/30`, 'dev', hostIf);
    await ip('link', 'set', hostIf, 'up');
    await ip('netns', 'exec', name, 'ip', 'addr', 'add', `${nsAddress}/30`, 'dev', nsIf);
    await ip('netns', 'exec', name, 'ip', 'link', 'set', nsIf, 'up');
    await ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
  } catch (err) {
    await remove();
    throw err;
  }
  return { name, hostAddress, nsAddress, execPrefix: ['ip', 'netns', 'exec', name], remove };
}
