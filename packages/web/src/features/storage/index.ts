/** Storage screens and the dialogs other pages reuse (a VM's Disks tab: create, attach). */
export { AttachDomainDialog } from './AttachDomainDialog';
export { Capacity } from './Capacity';
export { DiskCreateDialog, InterfaceSelect, useDataDomains } from './DiskCreateDialog';
export { DiskAttachDialog, DiskExtendDialog, DiskMoveDialog } from './DiskDialogs';
export { DisksPage, DisksTable } from './DisksPage';
export { IsoUploadDialog } from './IsoUploadDialog';
export { OperationStatus } from './OperationStatus';
export { StorageDomainDetailPage } from './StorageDomainDetailPage';
export { StorageDomainForm } from './StorageDomainForm';
export { StorageDomainsPage } from './StorageDomainsPage';
