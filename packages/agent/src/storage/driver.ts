import type { ImageFormat, Preallocation } from './qemu-img';

/** Configuration of one storage domain as the engine sends it to a host. */
export interface StorageDomainConfig {
  /** Storage domain UUID. */
  id: string;
  /** Driver name, e.g. `local`. */
  driver: string;
  /** Where the domain is (for `local`: an absolute directory on this host). */
  path: string;
}

/** A new volume. `name` is relative to the domain: segments of `[A-Za-z0-9._-]`, `/`-separated. */
export interface CreateVolumeRequest {
  name: string;
  format: ImageFormat;
  /** Virtual size in bytes; omit for an overlay to inherit its backing volume's size. */
  sizeBytes?: number;
  preallocation?: Preallocation;
  /** Make a qcow2 overlay on another volume of the same domain (a snapshot layer or a template clone). */
  backing?: { name: string; format: ImageFormat };
  /** LUKS-encrypt the new qcow2 volume with the passphrase in this 0600 file. */
  encryption?: { secretFile: string };
}

export interface VolumeInfo {
  name: string;
  /** Absolute, canonical path QEMU should open. */
  path: string;
  format: ImageFormat;
  virtualSize: number;
  actualSize?: number;
  /** Backing file as recorded in the image (relative to the volume's directory for local overlays). */
  backingFile?: string;
  encrypted: boolean;
}

/**
 * One kind of storage (local directory, shared mount, NFS, iSCSI…). Every method validates volume
 * names itself: callers pass names that came from the engine, and the driver guarantees no path
 * ever leaves the domain. Errors are `StorageError`s.
 */
export interface StorageDriver {
  readonly kind: string;
  readonly config: StorageDomainConfig;
  /** Prepares the domain on this host (creates/verifies the directory, mounts…). Idempotent. */
  activate(): Promise<void>;
  /** Absolute, canonical path of an existing volume, verified to be inside the domain. */
  resolveVolume(name: string): Promise<string>;
  createVolume(request: CreateVolumeRequest): Promise<VolumeInfo>;
  deleteVolume(name: string): Promise<void>;
  /**
   * Reads a volume's metadata, opened as `format` (the engine knows each volume's format; nothing is
   * probed). `forceShare`: read an image a running VM holds (qemu-img `-U`).
   */
  volumeInfo(name: string, options: { format: ImageFormat; forceShare?: boolean }): Promise<VolumeInfo>;
  /** Capacity of the domain's backing file system, in bytes. */
  capacity(): Promise<{ totalBytes: number; freeBytes: number }>;
}

export type StorageDriverFactory = (config: StorageDomainConfig) => StorageDriver;
