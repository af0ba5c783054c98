import { type Static, Type } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

/**
 * `agent.renew_certificate`: the agent generates a new key pair, keeps the private key in memory
 * only, and answers the public key; the engine then issues a certificate for it and sends it with
 * `agent.install_certificate`. The host's private key never crosses the network.
 */
export const RenewCertificateResultSchema = Type.Object(
  { public_key: Type.String({ description: 'SPKI PEM (ECDSA P-256).' }) },
  strict,
);
export type RenewCertificateResult = Static<typeof RenewCertificateResultSchema>;

/**
 * `agent.install_certificate`: a certificate for the key from the last `agent.renew_certificate`,
 * signed by the CA the agent trusts. The agent writes key and certificate and swaps its TLS context:
 * open connections (and VMs) are untouched; new handshakes present the new certificate.
 */
export const InstallCertificateParamsSchema = Type.Object(
  { certificate: Type.String({ minLength: 64, maxLength: 16_384 }) },
  strict,
);
export type InstallCertificateParams = Static<typeof InstallCertificateParamsSchema>;

export const InstallCertificateResultSchema = Type.Object(
  { serial: Type.String(), not_after: Type.String() },
  strict,
);
export type InstallCertificateResult = Static<typeof InstallCertificateResultSchema>;
