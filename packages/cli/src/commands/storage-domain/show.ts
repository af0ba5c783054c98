import { deleteCommand, showCommand } from '../common/crud';
import { storageDomainKind } from './kind';

export const storageDomainShow = showCommand(storageDomainKind);
/** Forgets an unattached domain that holds no disks; its files stay on storage. */
export const storageDomainDelete = deleteCommand(storageDomainKind);
