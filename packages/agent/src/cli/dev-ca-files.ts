// Apart from dev-ca.ts so that the commands reading these files do not load the certificate
// library (the bundle keeps dev-ca.ts in a chunk only `dev-ca` loads).

/** File names `dev-ca` writes, and that `serve` and the local commands read by default. */
export const DEV_CA_FILES = {
  ca: 'ca.pem',
  caKey: 'ca-key.pem',
  agentCert: 'agent.pem',
  agentKey: 'agent-key.pem',
  clientCert: 'client.pem',
  clientKey: 'client-key.pem',
} as const;
