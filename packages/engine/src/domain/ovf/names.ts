/** Namespaces and CIM numbers shared by the writer and the parser. */

export const NS = {
  ovf: 'http://schemas.dmtf.org/ovf/envelope/1',
  rasd: 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData',
  vssd: 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  /** A URN, not a URL: nothing ever tries to fetch it. */
  vireo: 'urn:vireo:ovf:1',
} as const;

/** CIM_ResourceAllocationSettingData.ResourceType values. */
export const RESOURCE = { cpu: 3, memory: 4, nic: 10, cdrom: 15, disk: 17 } as const;

/** ovf:format of a Disk: the qcow URL is what other OVF producers (oVirt) write for qcow2. */
export const DISK_FORMAT_URI = {
  qcow2: 'http://www.gnome.org/~markmc/qcow-image-format.html',
  raw: 'urn:vireo:ovf:1:disk-format:raw',
} as const;

/** CIM_OperatingSystem OsType for OperatingSystemSection ovf:id (closest family; ours rides along). */
export const CIM_OS_ID: Record<string, number> = {
  other: 1,
  other_linux: 36,
  debian: 95,
  ubuntu: 93,
  rhel: 79,
  windows: 105,
};

/** Marks the format of our own section, to refuse a future incompatible one clearly. */
export const VIREO_OVF_VERSION = 1;
