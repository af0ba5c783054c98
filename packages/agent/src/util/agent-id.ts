import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * This agent's stable identity, generated once per state directory. VM directories carry it in
 * their `owner` marker, so an agent only ever adopts what it created.
 */
export async function loadAgentId(stateDir: string): Promise<string> {
  const path = join(stateDir, 'agent-id');
  try {
    const id = (await readFile(path, 'utf8')).trim();
    if (/^[0-9a-f-]{36}$/.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = randomUUID();
  await writeFile(path, `${id}\n`, { mode: 0o600, flag: 'wx' }).catch(async (err) => {
    // Lost a race with another start: use the id that won.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  });
  return (await readFile(path, 'utf8')).trim();
}
