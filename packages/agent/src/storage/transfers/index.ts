export { transferHandlers } from './handlers';
export { transferRequestHandler } from './http';
export { type DomainRootResolver, type Transfer, TransferManager } from './manager';
export { STAGING_DIR, stagingPath, targetPath } from './paths';
