import fs from 'node:fs';
import path from 'node:path';

/**
 * `<data>/engine.pid`: one engine per data directory. Two engines on one directory would fight
 * over the embedded PostgreSQL (the second would "reap" the first one's server as an orphan).
 * A stale file from a killed engine is taken over.
 */
export function acquirePidFile(dataDir: string): { release(): void } {
  const file = path.join(dataDir, 'engine.pid');
  const other = readPid(file);
  if (other !== undefined && other !== process.pid && isRunningEngine(other)) {
    throw new Error(`another vireo-engine (pid ${other}) is already running with data directory ${dataDir}`);
  }
  fs.writeFileSync(file, `${process.pid}\n`, { mode: 0o644 });
  return {
    release() {
      if (readPid(file) === process.pid) fs.rmSync(file, { force: true });
    },
  };
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isRunningEngine(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/^\d+ \(.*\) Z/.test(stat)) return false;
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('vireo-engine') || cmdline.includes('main.ts');
  } catch {
    return false;
  }
}
