import { X509Certificate, createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { certificateInfo, type KeyPair } from '@vireo/pki';
import { type EngineCa, RENEW_BEFORE_MS } from '../pki/engine-ca';
import { assertPrivate, writePublicFile, writeSecretFile } from '../pki/files';

/** Where the engine keeps the client certificate it presents to agents. */
export function engineClientFiles(paths: { pkiDir: string; secretsDir: string }) {
  return {
    cert: path.join(paths.pkiDir, 'engine-client.pem'),
    key: path.join(paths.secretsDir, 'engine-client.key'),
  };
}

/**
 * Loads the engine's agent-client certificate, issuing a new one when it is missing, unreadable,
 * from another CA or close to its end. Agents accept any client the engine CA signed with client
 * usage, so replacing it needs no change on the hosts.
 */
export async function ensureEngineClientCertificate(
  ca: EngineCa,
  paths: { pkiDir: string; secretsDir: string },
  now = Date.now(),
  opts: { validityMs?: number } = {},
): Promise<KeyPair> {
  const files = engineClientFiles(paths);
  if (fs.existsSync(files.cert) && fs.existsSync(files.key)) {
    assertPrivate(files.key);
    const pair = { certPem: fs.readFileSync(files.cert, 'utf8'), keyPem: fs.readFileSync(files.key, 'utf8') };
    try {
      const ok =
        ca.issued(pair.certPem) &&
        new X509Certificate(pair.certPem).checkPrivateKey(createPrivateKey(pair.keyPem)) &&
        certificateInfo(pair.certPem).notAfter.getTime() - now > RENEW_BEFORE_MS;
      if (ok) return pair;
    } catch {
      // unreadable: issue a new one below
    }
  }
  const pair = await ca.issueEngineClientCertificate('vireo-engine', opts.validityMs);
  writeSecretFile(files.key, pair.keyPem);
  writePublicFile(files.cert, pair.certPem);
  return pair;
}
