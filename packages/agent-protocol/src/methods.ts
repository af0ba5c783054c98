import { type Static, type TSchema, Type } from '@sinclair/typebox';
import {
  InstallCertificateParamsSchema,
  InstallCertificateResultSchema,
  RenewCertificateResultSchema,
} from './certificate';
import {
  ExportCheckVolumeParamsSchema,
  ExportCheckVolumeResultSchema,
  OvaExtractParamsSchema,
  OvaExtractResultSchema,
  OvaListParamsSchema,
  OvaListResultSchema,
  OvaPackParamsSchema,
  OvaPackResultSchema,
  OvaReadParamsSchema,
  OvaReadResultSchema,
  StorageFileDeleteParamsSchema,
  StorageFileDeleteResultSchema,
  StorageFileListParamsSchema,
  StorageFileListResultSchema,
  StorageFileReadParamsSchema,
  StorageFileReadResultSchema,
  StorageFileWriteParamsSchema,
  StorageFileWriteResultSchema,
} from './export';
import { HelloParamsSchema, HelloResultSchema } from './hello';
import { HostCapabilitiesSchema, HostStatsSchema } from './host';
import {
  TransferCancelResultSchema,
  TransferFinalizeParamsSchema,
  TransferFinalizeResultSchema,
  TransferIdParamsSchema,
  TransferStartParamsSchema,
  TransferStatusSchema,
} from './transfer';
import { ImageCreateParamsSchema, ImageInfoParamsSchema, ImageInfoSchema } from './image';
import {
  MergeResultSchema,
  MergeStatusParamsSchema,
  MergeStatusResultSchema,
  VmBlockChainsParamsSchema,
  VmBlockChainsResultSchema,
  VmMergeParamsSchema,
  VmSnapshotParamsSchema,
  VmSnapshotResultSchema,
  VolumeMergeParamsSchema,
} from './snapshot';
import { StorageScanDisksParamsSchema, StorageScanDisksResultSchema } from './registration';
import { VolumeSealParamsSchema, VolumeSealResultSchema } from './seal';
import {
  StorageActivateParamsSchema,
  StorageActivateResultSchema,
  StorageCapacitySchema,
  StorageDeactivateParamsSchema,
  StorageDeactivateResultSchema,
  StorageDomainIdParamsSchema,
  StorageListIsosResultSchema,
  StorageProbeParamsSchema,
  StorageProbeResultSchema,
} from './storage';
import {
  VmAttachDiskParamsSchema,
  VmChangeCdParamsSchema,
  VmConsoleParamsSchema,
  VmConsoleResultSchema,
  VmDestroyResultSchema,
  VmDetachDiskParamsSchema,
  VmGetResultSchema,
  VmIdParamsSchema,
  VmListParamsSchema,
  VmListResultSchema,
  VmRebootParamsSchema,
  VmResultSchema,
  VmShutdownParamsSchema,
  VmShutdownResultSchema,
  VmStartParamsSchema,
} from './vm';
import {
  VmResizeDiskParamsSchema,
  VmResizeDiskResultSchema,
  VolumeCancelParamsSchema,
  VolumeCancelResultSchema,
  VolumeCopyParamsSchema,
  VolumeCreateParamsSchema,
  VolumeDeleteParamsSchema,
  VolumeDeleteResultSchema,
  VolumeInfoParamsSchema,
  VolumeInfoSchema,
  VolumeResizeParamsSchema,
} from './volume';

const NoParams = Type.Object({}, { additionalProperties: false });

/**
 * Every method an agent answers, with its params and result schemas. The agent validates params
 * against these before any work (error `invalid_params`, or `invalid_vm_spec` for a bad spec);
 * clients may validate results.
 */
export const AgentMethods = {
  'agent.hello': { params: HelloParamsSchema, result: HelloResultSchema },
  /** New key pair for certificate renewal; answers the public key (see certificate.ts). */
  'agent.renew_certificate': { params: NoParams, result: RenewCertificateResultSchema },
  /** Installs the renewed certificate and swaps the TLS context without dropping connections. */
  'agent.install_certificate': {
    params: InstallCertificateParamsSchema,
    result: InstallCertificateResultSchema,
  },
  'host.capabilities': { params: NoParams, result: HostCapabilitiesSchema },
  'host.stats': { params: NoParams, result: HostStatsSchema },
  'vm.list': { params: VmListParamsSchema, result: VmListResultSchema },
  'vm.get': { params: VmIdParamsSchema, result: VmGetResultSchema },
  /** Create (or re-create, when a `down` VM with this id exists) and start; returns once `up`. */
  'vm.start': { params: VmStartParamsSchema, result: VmResultSchema },
  /** ACPI power button, wait up to `timeout_s` (default 60), then power off. */
  'vm.shutdown': { params: VmShutdownParamsSchema, result: VmShutdownResultSchema },
  /** Power off now. Also cancels a `vm.shutdown` still waiting for the guest. */
  'vm.stop': { params: VmIdParamsSchema, result: VmResultSchema },
  /**
   * Graceful reboot: ACPI power button, and once the guest has shut down it is reset and runs again
   * in the same QEMU; a guest that ignores ACPI for `timeout_s` gets a hard reset.
   */
  'vm.reboot': { params: VmRebootParamsSchema, result: VmResultSchema },
  'vm.reset': { params: VmIdParamsSchema, result: VmResultSchema },
  'vm.pause': { params: VmIdParamsSchema, result: VmResultSchema },
  'vm.resume': { params: VmIdParamsSchema, result: VmResultSchema },
  /** Power off if running, then forget the VM (its state directory). Never deletes disks. */
  'vm.destroy': { params: VmIdParamsSchema, result: VmDestroyResultSchema },
  'vm.console': { params: VmConsoleParamsSchema, result: VmConsoleResultSchema },
  'vm.change_cd': { params: VmChangeCdParamsSchema, result: VmResultSchema },
  'vm.attach_disk': { params: VmAttachDiskParamsSchema, result: VmResultSchema },
  'vm.detach_disk': { params: VmDetachDiskParamsSchema, result: VmResultSchema },
  /** Live snapshot of all the given disks at once (one QMP transaction), memory state optional. */
  'vm.snapshot': { params: VmSnapshotParamsSchema, result: VmSnapshotResultSchema },
  /** Live merge (`block-commit`) of a running VM's volume into its backing volume. */
  'vm.merge': { params: VmMergeParamsSchema, result: MergeResultSchema },
  /** Cold merge (`qemu-img commit` + `rebase -u`) with no VM running; idempotent. */
  'volume.merge': { params: VolumeMergeParamsSchema, result: MergeResultSchema },
  /** Whether a disk directory has an unfinished merge (its crash-safety marker). */
  'merge.status': { params: MergeStatusParamsSchema, result: MergeStatusResultSchema },
  /** The volumes each disk of a VM runs on (QEMU's graph, or the spec when down); waits for the VM's lock. */
  'vm.block_chains': { params: VmBlockChainsParamsSchema, result: VmBlockChainsResultSchema },
  'image.create': { params: ImageCreateParamsSchema, result: ImageInfoSchema },
  'image.info': { params: ImageInfoParamsSchema, result: ImageInfoSchema },
  /** Image uploads and downloads; the bytes use the HTTPS data endpoint (see transfer.ts). */
  'transfer.start': { params: TransferStartParamsSchema, result: TransferStatusSchema },
  'transfer.status': { params: TransferIdParamsSchema, result: TransferStatusSchema },
  /** Checksum, hostile-image gate, then the move into place; a refusal removes the staging file. */
  'transfer.finalize': { params: TransferFinalizeParamsSchema, result: TransferFinalizeResultSchema },
  'transfer.cancel': { params: TransferIdParamsSchema, result: TransferCancelResultSchema },
  /** Mounts (nfs), checks or creates the domain layout and metadata, remembers it; idempotent. */
  'storage.activate': { params: StorageActivateParamsSchema, result: StorageActivateResultSchema },
  /** Forgets the domain (unmounts nfs); `release` first clears its owner. Idempotent. */
  'storage.deactivate': { params: StorageDeactivateParamsSchema, result: StorageDeactivateResultSchema },
  'storage.capacity': { params: StorageDomainIdParamsSchema, result: StorageCapacitySchema },
  'storage.list_isos': { params: StorageDomainIdParamsSchema, result: StorageListIsosResultSchema },
  /** Reads the metadata of the domains found under a location (import); changes nothing. */
  'storage.probe': { params: StorageProbeParamsSchema, result: StorageProbeResultSchema },
  /** Disk directories of an active domain with their checked volume chains (registration.ts). */
  'storage.scan_disks': { params: StorageScanDisksParamsSchema, result: StorageScanDisksResultSchema },
  /** Volumes of disks inside active storage domains (see volume.ts). */
  'volume.create': { params: VolumeCreateParamsSchema, result: VolumeInfoSchema },
  'volume.delete': { params: VolumeDeleteParamsSchema, result: VolumeDeleteResultSchema },
  'volume.info': { params: VolumeInfoParamsSchema, result: VolumeInfoSchema },
  /** Offline growth (`qemu-img resize`); refused while a VM holds the volume. */
  'volume.resize': { params: VolumeResizeParamsSchema, result: VolumeInfoSchema },
  /** Copy/convert with `job.progress` events; returns when done (the engine keeps the call open). */
  'volume.copy': { params: VolumeCopyParamsSchema, result: VolumeInfoSchema },
  'volume.cancel': { params: VolumeCancelParamsSchema, result: VolumeCancelResultSchema },
  /** Small files under an active domain's `master/` (OVFs, VM configurations; see export.ts). */
  'storage.file_write': { params: StorageFileWriteParamsSchema, result: StorageFileWriteResultSchema },
  'storage.file_read': { params: StorageFileReadParamsSchema, result: StorageFileReadResultSchema },
  'storage.file_list': { params: StorageFileListParamsSchema, result: StorageFileListResultSchema },
  'storage.file_delete': { params: StorageFileDeleteParamsSchema, result: StorageFileDeleteResultSchema },
  /** OVA archives on an export domain, and the image gate for exported volumes (see export.ts). */
  'export.ova_pack': { params: OvaPackParamsSchema, result: OvaPackResultSchema },
  'export.ova_list': { params: OvaListParamsSchema, result: OvaListResultSchema },
  'export.ova_read': { params: OvaReadParamsSchema, result: OvaReadResultSchema },
  'export.ova_extract': { params: OvaExtractParamsSchema, result: OvaExtractResultSchema },
  'export.check_volume': { params: ExportCheckVolumeParamsSchema, result: ExportCheckVolumeResultSchema },
  /** Online growth of a running VM's disk (QMP `block_resize`). */
  'vm.resize_disk': { params: VmResizeDiskParamsSchema, result: VmResizeDiskResultSchema },
  /** Resets machine-id and hostname inside a (template) volume, in an isolated appliance VM. */
  'volume.seal': { params: VolumeSealParamsSchema, result: VolumeSealResultSchema },
} as const satisfies Record<string, { params: TSchema; result: TSchema }>;

export type AgentMethodName = keyof typeof AgentMethods;
export type AgentMethodParams<M extends AgentMethodName> = Static<(typeof AgentMethods)[M]['params']>;
export type AgentMethodResult<M extends AgentMethodName> = Static<(typeof AgentMethods)[M]['result']>;

export function isAgentMethodName(value: string): value is AgentMethodName {
  return Object.hasOwn(AgentMethods, value);
}
