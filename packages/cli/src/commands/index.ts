import type { Registry } from '../framework/program';
import type { CommandSpec, NounSpec } from '../framework/spec';
import { login } from './auth/login';
import { logout } from './auth/logout';
import { whoami } from './auth/whoami';
import { clusterCreate } from './cluster/create';
import { clusterDelete } from './cluster/delete';
import { clusterList } from './cluster/list';
import { clusterShow } from './cluster/show';
import { clusterUpdate } from './cluster/update';
import { datacenterCreate } from './datacenter/create';
import { datacenterDelete } from './datacenter/delete';
import { datacenterList } from './datacenter/list';
import { datacenterShow } from './datacenter/show';
import { datacenterUpdate } from './datacenter/update';
import { diskAttach, diskDetach } from './disk/attach';
import { diskCopy, diskExtend, diskMove } from './disk/change';
import { diskCreate } from './disk/create';
import { diskDelete, diskList, diskShow } from './disk/list';
import { vmList } from './vm/list';
import { vmShow } from './vm/show';
import { vmCreate } from './vm/create';
import { vmUpdate } from './vm/update';
import { vmDelete } from './vm/delete';
import { vmStart } from './vm/start';
import { vmShutdown } from './vm/shutdown';
import { vmStop } from './vm/stop';
import { vmReboot } from './vm/reboot';
import { vmSuspend } from './vm/suspend';
import { vmResume } from './vm/resume';
import { vmConsole } from './vm/console';
import { hostList } from './host/list';
import { hostShow } from './host/show';
import { hostAdd } from './host/add';
import { hostJoinToken } from './host/join-token';
import { hostMaintenance } from './host/maintenance';
import { hostActivate } from './host/activate';
import { hostRemove } from './host/remove';
import { imageDownload } from './image/download';
import { imageUpload } from './image/upload';
import { events } from './event/follow';
import { exportList, templateExport, vmExport, vmImport } from './export/export';
import { eventList } from './event/list';
import { eventPurge } from './event/purge';
import { completeCommand, completion } from './misc/completion';
import { shellCommand } from './misc/shell';
import { connect, disconnect, exit } from './misc/shell-builtins';
import { version } from './misc/version';
import { operationCancel } from './operation/cancel';
import { operationList } from './operation/list';
import { operationShow } from './operation/show';
import { operationWait } from './operation/wait';
import {
  snapshotCommit,
  snapshotCreate,
  snapshotDelete,
  snapshotPreview,
  snapshotRevert,
  snapshotUndo,
} from './snapshot/actions';
import { snapshotList } from './snapshot/list';
import { profileList } from './profile/list';
import { profileRemove } from './profile/remove';
import { profileUse } from './profile/use';
import {
  storageDomainActivate,
  storageDomainAttach,
  storageDomainDetach,
  storageDomainMaintenance,
} from './storage-domain/actions';
import { storageDomainCreate } from './storage-domain/create';
import { storageDomainIsos } from './storage-domain/isos';
import { storageDomainList } from './storage-domain/list';
import { storageDomainDelete, storageDomainShow } from './storage-domain/show';
import { storageDomainRegister, storageDomainUnregistered } from './storage-domain/unregistered';
import {
  templateClone,
  templateCreate,
  templateDelete,
  templateList,
  templateShow,
} from './template/templates';

/** Nouns in the order help lists them. A new noun (vm, host) is one line here. */
export const NOUNS: readonly NounSpec[] = [
  { name: 'datacenter', aliases: ['dc'], summary: 'data centers: the top of the inventory' },
  { name: 'cluster', summary: 'clusters: hosts sharing CPU type and scheduling policy' },
  { name: 'vm', summary: 'virtual machines: create, power, consoles' },
  { name: 'host', summary: 'machines running vireo-agent' },
  { name: 'storage-domain', aliases: ['sd'], summary: 'storage domains: where disks and ISO images live' },
  { name: 'disk', summary: 'disks: create, extend, move, copy, attach to VMs' },
  { name: 'image', summary: 'image uploads and downloads (ISO files, disk images)' },
  { name: 'snapshot', summary: 'VM snapshots: take, preview, revert, delete (merge)' },
  { name: 'template', summary: 'templates: VMs to clone (thin or full)' },
  { name: 'export', summary: 'exports: VMs and templates on export domains (OVF / OVA)' },
  { name: 'operation', aliases: ['op'], summary: 'long-running work: follow, cancel' },
  { name: 'event', summary: 'the audit log' },
  { name: 'profile', summary: 'saved engine connections' },
];

const registry: Registry = { nouns: NOUNS, commands: [] };
const getRegistry = () => registry;

/** Every command. A new verb is one file under commands/<noun>/ and one line here. */
export const COMMANDS: readonly CommandSpec[] = [
  login,
  logout,
  whoami,
  version,
  datacenterList,
  datacenterShow,
  datacenterCreate,
  datacenterUpdate,
  datacenterDelete,
  clusterList,
  clusterShow,
  clusterCreate,
  clusterUpdate,
  clusterDelete,
  vmList,
  vmShow,
  vmCreate,
  vmUpdate,
  vmDelete,
  vmStart,
  vmShutdown,
  vmStop,
  vmReboot,
  vmSuspend,
  vmResume,
  vmConsole,
  vmExport,
  vmImport,
  snapshotList,
  snapshotCreate,
  snapshotDelete,
  snapshotPreview,
  snapshotCommit,
  snapshotUndo,
  snapshotRevert,
  hostList,
  hostShow,
  hostAdd,
  hostJoinToken,
  hostMaintenance,
  hostActivate,
  hostRemove,
  storageDomainList,
  storageDomainShow,
  storageDomainCreate,
  storageDomainAttach,
  storageDomainActivate,
  storageDomainMaintenance,
  storageDomainDetach,
  storageDomainDelete,
  storageDomainIsos,
  storageDomainUnregistered,
  storageDomainRegister,
  diskList,
  diskShow,
  diskCreate,
  diskExtend,
  diskMove,
  diskCopy,
  diskDelete,
  diskAttach,
  diskDetach,
  templateList,
  templateShow,
  templateCreate,
  templateClone,
  templateDelete,
  templateExport,
  exportList,
  imageUpload,
  imageDownload,
  operationList,
  operationShow,
  operationWait,
  operationCancel,
  eventList,
  eventPurge,
  events,
  profileList,
  profileUse,
  profileRemove,
  shellCommand(getRegistry),
  completion,
  completeCommand(getRegistry),
  connect,
  disconnect,
  exit,
];

(registry as { commands: readonly CommandSpec[] }).commands = COMMANDS;

/** The registry of the `vireo` binary. */
export const REGISTRY: Registry = registry;
