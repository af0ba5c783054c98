export {
  type ExportOvf,
  type ForeignDiskFormat,
  type ForeignDiskSource,
  type ForeignOvf,
  foreignUuid,
  parseExportOvf,
  parseForeignOvf,
} from './foreign';
export { parseOvf } from './parse';
export {
  OVF_LIMITS,
  type OvfCdrom,
  type OvfDisk,
  type OvfDiskFormat,
  type OvfDiskInterface,
  type OvfDocument,
  type OvfEntity,
  type OvfKind,
  type OvfNic,
  type OvfNicModel,
  ovfDiskHref,
} from './types';
export { writeOvf } from './write';
