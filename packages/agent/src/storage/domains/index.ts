export { storageDomainHandlers } from './handlers';
export { DOMAIN_FORMAT_VERSION, readMetadata, writeMetadata } from './metadata';
export { DEFAULT_NFS_OPTIONS, mountedFsType, nfsMountArgv, nfsOptions } from './mount';
export { type RootPolicy, StorageDomains, type StorageDomainsOptions } from './service';
