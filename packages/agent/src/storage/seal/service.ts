import type { VmSpec, VolumeSealParams, VolumeSealResult } from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import type { NfsImage } from '../../qemu/argv/types';
import { AgentError } from '../../util/errors';
import type { UserspaceNfsDomain } from '../domains/service';
import type { RemoteImages } from '../nfs/images';
import { isWrongKeyFailure, withSecretFile } from '../volumes/encryption';
import { DomainLayout, type DomainRootResolver, idSegment } from '../volumes/layout';
import { findSealAppliance, runSealAppliance, type SealAppliancePaths } from './appliance';

/** Settings of the sealer: the QEMU binary, accelerator, and appliance files. */
export interface SealerOptions {
  qemuBinary: string;
  accel: 'kvm' | 'tcg';
  secretsDir: string;
  log: Logger;
  /** Looked up at each call (the files may be built after the agent starts); default `findSealAppliance()`. */
  appliance?: () => SealAppliancePaths | undefined;
  /** Why the appliance is missing, for the `seal_unavailable` message (see `sealAvailability`). */
  unavailableReason?: () => string;
  /**
   * Userspace-mode nfs domains (ADR 027): the active domain of an id, and the image checks and
   * path → nfs mapping VM launches use. Without it such a domain's root resolver refuses the call.
   */
  nfs?: {
    domain(id: string): UserspaceNfsDomain | undefined;
    images(): RemoteImages | undefined;
  };
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
    const reason = opts.unavailableReason?.() ?? 'the seal appliance is not installed on this host';
    throw new AgentError('seal_unavailable', `cannot seal: ${reason}`, {
      details: { hint: 'run scripts/build-seal-appliance.sh, or set VIREO_AGENT_SEAL_DIR' },
    });
  }
  const { volumePath, nfs } = await locateVolume(resolveRoot, opts, p);
  const run = (secretFile?: string) =>
    runSealAppliance(
      opts.qemuBinary,
      {
        ...appliance,
        volumePath,
        ...(nfs ? { nfs } : {}),
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

/**
 * The volume to seal: a real file inside a directory domain, or on a userspace-mode nfs domain the
 * volume's name with its nfs location, after the checks a VM launch makes over NFS (a regular file,
 * the declared format, no backing or external data file).
 */
async function locateVolume(
  resolveRoot: DomainRootResolver,
  opts: SealerOptions,
  p: VolumeSealParams,
): Promise<{ volumePath: string; nfs?: NfsImage }> {
  const domain = opts.nfs?.domain(p.domain_id);
  if (!domain) {
    const layout = await DomainLayout.open(resolveRoot, p.domain_id);
    return { volumePath: await layout.volume(p.disk_id, p.volume_id) };
  }
  const images = opts.nfs?.images();
  const volumePath = `${domain.root}/images/${idSegment(p.disk_id, 'disk_id')}/${idSegment(p.volume_id, 'volume_id')}`;
  if (!images?.owns(volumePath)) {
    throw new AgentError(
      'storage_feature_unavailable',
      `volume ${volumePath} is not on a userspace-mode nfs domain`,
      {
        details: { domain_id: domain.domainId },
      },
    );
  }
  await images.checkChain(volumePath, p.format, 'volume.seal');
  const nfs = images.nfsImagesOf({ disks: [{ path: volumePath }] } as unknown as VmSpec)[volumePath];
  if (!nfs) throw new AgentError('internal_error', `no nfs location for ${volumePath}`);
  return { volumePath, nfs };
}
