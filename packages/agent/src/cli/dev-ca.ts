import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createCa, issueCertificate } from '@vireo/pki';

import { DEV_CA_FILES } from './dev-ca-files';

export { DEV_CA_FILES };

export interface DevCaResult {
  dir: string;
  files: string[];
}

/**
 * A development PKI: a CA, the agent's server certificate (SANs localhost, 127.0.0.1, ::1 and the
 * host name) and a client certificate for local tools. Keys are written 0600 in a 0700 directory.
 * Until a host is enrolled by an engine (which brings its own CA) this lets the agent run with the
 * same mTLS as in production.
 */
export async function createDevCa(
  dir: string,
  options: { force?: boolean; hostnames?: string[] } = {},
): Promise<DevCaResult> {
  const paths = Object.values(DEV_CA_FILES).map((f) => join(dir, f));
  if (!options.force) {
    const existing = paths.filter((p) => existsSync(p));
    if (existing.length > 0) {
      throw new Error(`refusing to overwrite ${existing.join(', ')} (use --force)`);
    }
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const host = hostname();
  const ca = await createCa({ commonName: `Vireo agent dev CA (${host})`, organization: 'Vireo' });
  const agent = await issueCertificate({
    ca,
    commonName: host,
    altNames: [...new Set(['localhost', '127.0.0.1', '::1', host, ...(options.hostnames ?? [])])],
    usage: 'server',
    organization: 'Vireo',
  });
  const client = await issueCertificate({
    ca,
    commonName: 'vireo-agent-local',
    usage: 'client',
    organization: 'Vireo',
  });
  // chmod too: with --force an existing file keeps its old mode through writeFile.
  const write = async (name: string, data: string, mode: number) => {
    await writeFile(join(dir, name), data, { mode });
    await chmod(join(dir, name), mode);
  };
  await write(DEV_CA_FILES.ca, ca.certPem, 0o644);
  await write(DEV_CA_FILES.caKey, ca.keyPem, 0o600);
  await write(DEV_CA_FILES.agentCert, agent.certPem, 0o644);
  await write(DEV_CA_FILES.agentKey, agent.keyPem, 0o600);
  await write(DEV_CA_FILES.clientCert, client.certPem, 0o644);
  await write(DEV_CA_FILES.clientKey, client.keyPem, 0o600);
  return { dir, files: paths };
}
