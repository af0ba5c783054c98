import { X509Certificate } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError, ExitCode, usageError } from '../framework/errors';

/** Non-secret facts about one saved engine connection. */
export interface ProfileRecord {
  /** The API base, e.g. `https://engine:8443/api/v1`. */
  url: string;
  username?: string;
  /** SHA-256 fingerprint of the trusted CA (colon hex). */
  ca_fingerprint?: string;
  /** When the stored token expires (RFC 3339), as the engine said. */
  token_expires_at?: string;
}

interface ConfigFile {
  current_profile?: string;
  profiles: Record<string, ProfileRecord>;
}

/** A profile with its secrets loaded. */
export interface LoadedProfile extends ProfileRecord {
  name: string;
  caPem?: string;
  token?: string;
}

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Validates a profile name; names become directory names, so `..` and `/` are refused. */
export function checkProfileName(name: string): string {
  if (!PROFILE_NAME.test(name)) {
    throw usageError(
      `invalid profile name ${JSON.stringify(name)}: use letters, digits, '.', '_' or '-' (at most 63)`,
      'invalid_profile_name',
    );
  }
  return name;
}

/** `$XDG_CONFIG_HOME/vireo`, or `~/.config/vireo`. */
export function defaultConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg?.startsWith('/') ? xdg : join(env.HOME || homedir(), '.config');
  return join(base, 'vireo');
}

/**
 * The CLI's configuration directory: profiles in config.json, and per profile its token and CA
 * in separate files. The directory is 0700 and every file 0600, because tokens are credentials.
 */
export class ConfigStore {
  constructor(readonly dir: string) {}

  get historyFile(): string {
    return join(this.dir, 'history');
  }

  /** Creates the directory (0700), tightening its mode if it already existed looser. */
  ensureDir(sub?: string): string {
    const path = sub ? join(this.dir, sub) : this.dir;
    if (sub) this.ensureDir();
    mkdirSync(path, { recursive: true, mode: 0o700 });
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o700);
    return path;
  }

  /** Writes a file atomically with mode 0600. */
  writePrivate(path: string, content: string): void {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, content, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  }

  read(): ConfigFile {
    const file = join(this.dir, 'config.json');
    if (!existsSync(file)) return { profiles: {} };
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<ConfigFile>;
      const profiles = parsed.profiles && typeof parsed.profiles === 'object' ? parsed.profiles : {};
      return { current_profile: parsed.current_profile, profiles };
    } catch (cause) {
      throw new CliError('config_invalid', `cannot read ${file}; fix or remove it`, ExitCode.usage, {
        cause,
      });
    }
  }

  write(config: ConfigFile): void {
    this.ensureDir();
    this.writePrivate(join(this.dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  }

  /** Profile names, sorted. */
  names(): string[] {
    return Object.keys(this.read().profiles).sort();
  }

  current(): string | undefined {
    return this.read().current_profile;
  }

  setCurrent(name: string): void {
    const config = this.read();
    if (!config.profiles[checkProfileName(name)]) {
      throw new CliError('profile_not_found', `no profile named ${JSON.stringify(name)}`, ExitCode.notFound);
    }
    config.current_profile = name;
    this.write(config);
  }

  /** Loads a profile with its token and CA, or undefined when it does not exist. */
  load(name: string): LoadedProfile | undefined {
    const record = this.read().profiles[checkProfileName(name)];
    if (!record) return undefined;
    const dir = join(this.dir, 'profiles', name);
    const readOpt = (file: string) => {
      const p = join(dir, file);
      return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
    };
    const token = readOpt('token')?.trim() || undefined;
    return { ...record, name, caPem: readOpt('ca.pem'), token };
  }

  /** Profile whose API URL equals `url`. */
  findByUrl(url: string): string | undefined {
    const { profiles } = this.read();
    return Object.keys(profiles).find((n) => profiles[n]?.url === url);
  }

  /** Saves a profile: its record, and the CA and token files when given. */
  save(name: string, record: ProfileRecord, secrets: { caPem?: string; token?: string }): void {
    checkProfileName(name);
    const dir = this.ensureDir(join('profiles', name));
    if (secrets.caPem !== undefined) {
      const fingerprint = new X509Certificate(secrets.caPem).fingerprint256;
      this.writePrivate(join(dir, 'ca.pem'), secrets.caPem);
      record = { ...record, ca_fingerprint: fingerprint };
    }
    if (secrets.token !== undefined) this.writePrivate(join(dir, 'token'), `${secrets.token}\n`);
    const config = this.read();
    config.profiles[name] = record;
    this.write(config);
  }

  /** Deletes the stored token of a profile (the profile and its CA stay). */
  forgetToken(name: string): void {
    rmSync(join(this.dir, 'profiles', checkProfileName(name), 'token'), { force: true });
    const config = this.read();
    const rec = config.profiles[name];
    if (rec) {
      delete rec.token_expires_at;
      this.write(config);
    }
  }

  /** Deletes a profile entirely. */
  remove(name: string): void {
    const config = this.read();
    if (!config.profiles[checkProfileName(name)]) {
      throw new CliError('profile_not_found', `no profile named ${JSON.stringify(name)}`, ExitCode.notFound);
    }
    rmSync(join(this.dir, 'profiles', name), { recursive: true, force: true });
    delete config.profiles[name];
    if (config.current_profile === name) delete config.current_profile;
    this.write(config);
  }
}
