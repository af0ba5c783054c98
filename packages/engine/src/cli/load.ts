import pino, { type Logger } from 'pino';
import {
  type EngineConfig,
  type LogLevel,
  type RawSettings,
  type SettingsLayer,
  dataDirLayout,
  readConfigFile,
  resolveConfig,
  settingsFromEnv,
} from '../config';

/** The data directory chosen by the highest layer that names one (the file cannot: it lives inside). */
export function chooseDataDir(layers: SettingsLayer[], env: NodeJS.ProcessEnv): string {
  return resolveConfig(
    layers.map((l) => ({ source: l.source, settings: { dataDir: l.settings.dataDir } as RawSettings })),
    { env },
  ).dataDir;
}

/**
 * The effective configuration for `start` and `config show`: flags > env > engine.conf > defaults.
 * `configured` tells whether setup has run in that data directory.
 */
export function loadConfig(
  flagSettings: RawSettings,
  env: NodeJS.ProcessEnv = process.env,
): { config: EngineConfig; configured: boolean } {
  const top: SettingsLayer[] = [
    { source: 'flag', settings: flagSettings },
    { source: 'env', settings: settingsFromEnv(env) },
  ];
  const dataDir = chooseDataDir(top, env);
  const file = readConfigFile(dataDirLayout(dataDir).configFile);
  const layers = file ? [...top, { source: 'file' as const, settings: file }] : top;
  return { config: resolveConfig(layers, { env }), configured: file !== undefined };
}

/**
 * The engine's root logger: JSON lines on stderr (stdout is for the person at the terminal: the
 * `ready at` line and a generated password). Secrets are redacted wherever they might appear.
 */
export function createLogger(level: LogLevel): Logger {
  return pino(
    {
      level,
      base: { service: 'vireo-engine' },
      redact: {
        paths: [
          'password',
          '*.password',
          'token',
          '*.token',
          'req.headers.authorization',
          'req.headers.cookie',
        ],
        censor: '[redacted]',
      },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}
