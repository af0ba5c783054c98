import { readFileSync } from 'node:fs';
import { normalizeBaseUrl, VireoClient } from '@vireo/client';
import { type CaCandidate, fetchCa, normalizeFingerprint, parseCa } from '../../auth/ca';
import { CliError, ExitCode, usageError } from '../../framework/errors';
import type { CommandContext, CommandSpec } from '../../framework/spec';
import { CLI_VERSION } from '../../framework/session';
import { readAllStdin } from '../../io/prompt';

/** Picks the profile name: --profile/VIREO_PROFILE, else one already used for this URL, else `default` or the host. */
function chooseProfile(ctx: CommandContext, url: string): string {
  const explicit = (ctx.opts.profile as string | undefined) || ctx.session.env.VIREO_PROFILE;
  if (explicit) return explicit;
  const existing = ctx.session.store.findByUrl(url);
  if (existing) return existing;
  const names = ctx.session.store.names();
  if (!names.includes('default')) return 'default';
  return new URL(url).hostname.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 63) || 'engine';
}

async function chooseCa(ctx: CommandContext, apiBase: URL, stored: string | undefined): Promise<CaCandidate> {
  const pinned = ctx.opts.acceptCaFingerprint
    ? normalizeFingerprint(String(ctx.opts.acceptCaFingerprint))
    : undefined;
  let candidate: CaCandidate;
  if (ctx.opts.caFile) {
    const path = String(ctx.opts.caFile);
    let pem: string;
    try {
      pem = readFileSync(path, 'utf8');
    } catch (cause) {
      throw new CliError('ca_file_unreadable', `cannot read ${path}`, ExitCode.usage, { cause });
    }
    candidate = parseCa(pem, path);
  } else if (stored && !pinned) {
    // Already trusted for this profile: trust on *first* use only.
    return parseCa(stored, 'the stored CA');
  } else {
    candidate = await fetchCa(apiBase);
  }
  if (pinned) {
    if (candidate.fingerprint !== pinned) {
      throw new CliError(
        'ca_fingerprint_mismatch',
        `the engine's CA has fingerprint ${candidate.fingerprint}, not the expected ${pinned}`,
        ExitCode.connection,
      );
    }
    return candidate;
  }
  if (ctx.opts.caFile) return candidate;
  const s = ctx.session;
  s.info(`The engine at ${apiBase.origin} presents this certificate authority:`);
  s.info(`  subject:             ${candidate.subject}`);
  s.info(`  valid until:         ${candidate.validTo}`);
  s.info(`  SHA-256 fingerprint: ${candidate.fingerprint}`);
  s.info(
    'Compare the fingerprint with the one the engine printed at setup (or `openssl x509 -fingerprint -sha256`).',
  );
  if (!s.prompter.interactive) {
    throw new CliError(
      'ca_confirmation_required',
      'cannot ask to trust the CA without a terminal; pass --accept-ca-fingerprint or --ca-file',
      ExitCode.usage,
    );
  }
  if (!(await s.prompter.confirm('Trust this CA for this engine? [y/N] '))) {
    throw new CliError('ca_rejected', 'the CA was not trusted; nothing was saved', ExitCode.connection);
  }
  return candidate;
}

export const login: CommandSpec = {
  path: ['login'],
  summary: 'log in to an engine and save the token and its CA in a profile',
  args: [{ name: 'url', description: 'the engine, e.g. https://engine.example.com:8443', required: false }],
  options: [
    { flags: '-u, --username <user>', description: 'user name, e.g. admin@internal (asked when omitted)' },
    { flags: '--password-stdin', description: 'read the password from standard input' },
    {
      flags: '--ca-file <path>',
      description: "trust this PEM file as the engine's CA",
      complete: { kind: 'files' },
    },
    {
      flags: '--accept-ca-fingerprint <sha256>',
      description: "trust the engine's CA only if its SHA-256 fingerprint is this (for scripts)",
    },
  ],
  async run(ctx) {
    const s = ctx.session;
    let rawUrl = ctx.args[0] as string | undefined;
    if (!rawUrl) {
      const current = s.store.load(s.profileName(ctx.opts.profile));
      if (!current) throw usageError('give the engine URL: vireo login https://engine:8443');
      rawUrl = current.url;
    }
    const apiBase = normalizeBaseUrl(rawUrl);
    if (apiBase.protocol !== 'https:')
      throw usageError('the engine URL must start with https://', 'insecure_url');
    const url = apiBase.href;
    const profileName = chooseProfile(ctx, url);
    const existing = s.store.load(profileName);
    const sameEngine = existing?.url === url;
    const ca = await chooseCa(ctx, apiBase, sameEngine ? existing?.caPem : undefined);

    let username = ctx.opts.username as string | undefined;
    if (!username && sameEngine && existing?.username && !s.prompter.interactive)
      username = existing.username;
    if (!username) {
      const hint = sameEngine && existing?.username ? ` [${existing.username}]` : '';
      username =
        (await s.prompter.ask(`Username${hint}: `)).trim() || (sameEngine ? existing?.username : undefined);
    }
    if (!username) throw usageError('a user name is required (--username)');
    let password: string;
    if (ctx.opts.passwordStdin) {
      if (s.inShell) throw usageError('--password-stdin cannot be used inside the shell');
      password = await readAllStdin(s.io.stdin);
    } else {
      password = await s.prompter.askSecret(`Password for ${username}: `);
    }
    if (!password) throw usageError('an empty password was given');

    const client = new VireoClient({ baseUrl: url, ca: ca.pem, userAgent: `vireo-cli/${CLI_VERSION}` });
    try {
      const result = await client.login(username, password, s.signal).catch((err: unknown) => {
        if ((err as { code?: string }).code === 'tls_error' && ca.pem === existing?.caPem && sameEngine) {
          throw new CliError(
            'tls_error',
            `${(err as Error).message}: the engine does not match the CA trusted for profile ${profileName}. ` +
              'If its CA was replaced on purpose, log in with --accept-ca-fingerprint or --ca-file.',
            ExitCode.connection,
            { cause: err },
          );
        }
        throw err;
      });
      s.store.save(
        profileName,
        { url, username, token_expires_at: result.expires_at },
        { caPem: ca.pem, token: result.token },
      );
      s.store.setCurrent(profileName);
    } finally {
      await client.close();
    }
    await s.forget(profileName);
    if (s.inShell) {
      s.shellProfile = profileName;
      s.disconnected = false;
    }
    s.info(`Logged in to ${apiBase.origin} as ${username} (profile ${profileName}).`);
    return 0;
  },
};
