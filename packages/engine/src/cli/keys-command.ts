import { ConfigError } from '../config';
import { openDb } from '../db/connection';
import { createAudit } from '../events/audit';
import { rotateMasterKey } from '../secrets/master-key-rotation';
import { startDatabase } from '../setup/database';
import { acquirePidFile } from '../setup/pid-file';
import type { ParsedFlags } from './flags';
import { createLogger, loadConfig } from './load';

/**
 * `vireo-engine keys rotate`: re-wraps every disk key under a new disk master key (ADR 023 §4).
 * Offline: it takes the engine's pid file, so it refuses while the engine (or another rotation)
 * runs, and the engine cannot start until it is done. Prints the key fingerprints, never a key.
 */
export async function keysRotateCommand(
  flags: ParsedFlags,
  env: NodeJS.ProcessEnv,
  say: (line: string) => void,
): Promise<number> {
  const { config, configured } = loadConfig(flags.settings, env);
  if (!configured) throw new ConfigError(`${config.dataDir} is not set up yet (run vireo-engine setup)`);
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const pidFile = acquirePidFile(config.dataDir);
  try {
    const database = await startDatabase(config, log);
    try {
      const handle = openDb(database.target, { max: 2 });
      try {
        const r = await rotateMasterKey({
          db: handle.db,
          secretsDir: config.paths.secretsDir,
          audit: createAudit(),
          log,
        });
        if (flags.json) say(JSON.stringify(r, null, 2));
        else {
          say(
            `${r.resumed ? 'finished an interrupted rotation: ' : ''}disk master key ${r.previous_master_key_id} → ${r.master_key_id}; ` +
              `${r.rewrapped} disk key(s) re-wrapped${r.already ? `, ${r.already} already were` : ''}`,
          );
          say(
            `back up ${config.paths.secretsDir} now: the previous key is gone, and with it old database backups' disk keys`,
          );
        }
        return 0;
      } finally {
        await handle.close();
      }
    } finally {
      await database.stop();
    }
  } finally {
    pidFile.release();
  }
}
