export type {
  CreateVolumeRequest,
  StorageDomainConfig,
  StorageDriver,
  StorageDriverFactory,
  VolumeInfo,
} from './driver';
export { StorageError, type StorageErrorCode } from './errors';
export { type InspectedImage, type InspectOptions, inspectUntrustedImage } from './inspect';
export { LocalStorageDriver } from './local';
export {
  CHECK_LIMITS,
  type CheckResult,
  CONVERT_LIMITS,
  type CreateImageOptions,
  checkImage,
  convertImage,
  createImage,
  createOverlay,
  type ImageFormat,
  type ImageInfo,
  imageInfo,
  METADATA_LIMITS,
  type Preallocation,
  type QemuImgLimits,
  resizeImage,
  runQemuImg,
} from './qemu-img';
export { defaultStorageRegistry, StorageDriverRegistry } from './registry';
