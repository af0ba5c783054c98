import type { VolumeSealParams, VolumeSealResult } from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import { AgentError } from '../../util/errors';
import { isWrongKeyFailure, withSecretFile } from '../volumes/encryption';
import { DomainLayout, type DomainRootResolver } from '../volumes/layout';
import { findSealAppliance, runSealAppliance, type SealAppliancePaths } from './appliance';

/** Settings of the sealer: the QEMU binary, accelerator, and appliance files. */
export interface SealerOptions {
  qemuBinary: string;
  accel: 'kvm' | 'tcg';
  secretsDir: string;
  log: Logger;
  /** Looked up at each call (the files may be built after the agent starts); default `findSealAppliance()`. */
  appliance?: () => SealAppliancePaths | undefined;
  /** How long the appliance may take; TCG boots in ~5 s idle, much longer under load. */
  timeoutMs?: number;
}

/** `volume.seal`: boots the seal appliance on a volume of an active domain (ADR 030). */
export async function sealVolume(
  resolveRoot: DomainRootResolver,
  opts: SealerOptions,
  p: VolumeSealParams,
): Promise<VolumeSealResult> {
  const appliance = (opts.appliance ?? findSealAppliance)();
  if (!appliance) {
    throw new AgentError('seal_unavailable', 'the seal appliance is not installed on this host', {
      details: { hint: 'run scripts/build-seal-appliance.sh, or set VIREO_AGENT_SEAL_DIR' },
    });
  }
  const layout = await DomainLayout.open(resolveRoot, p.domain_id);
  const volumePath = await layout.volume(p.disk_id, p.volume_id);
  const run = (secretFile?: string) =>
    runSealAppliance(
      opts.qemuBinary,
      {
        ...appliance,
        volumePath,
        format: p.format,
        accel: opts.accel,
        ...(secretFile ? { secretFile } : {}),
        ...(p.remove_ssh_host_keys ? { removeSshHostKeys: true } : {}),
      },
      opts.timeoutMs ?? 180_000,
    );
  let result: Awaited<ReturnType<typeof runSealAppliance>>;
  try {
    result = await (p.encryption ? withSecretFile(opts.secretsDir, p.encryption.secret, run) : run());
  } catch (err) {
    if (isWrongKeyFailure(err)) {
      throw new AgentError('encryption_key_invalid', 'the key does not open the volume', { cause: err });
    }
    throw err;
  }
  const { outcome, durationMs } = result;
  if (!outcome.ok) {
    throw new AgentError('seal_failed', `the seal appliance could not seal the volume: ${outcome.error}`, {
      details: { reason: outcome.error },
    });
  }
  opts.log.info(
    { volume_id: p.volume_id, changed: outcome.changed, root: outcome.root, duration_ms: durationMs },
    'volume sealed',
  );
  return { changed: outcome.changed, root_device: outcome.root, duration_ms: durationMs };
}
