import type { BootIndexes } from './boot';
import type { BusAllocator } from './controllers';
import { headed, opts } from './escape';
import { CDROM_DEVICE_ID, CDROM_NODE_NAMES } from './names';
import { nfsProtocolOpts } from './nfs';
import type { LaunchPlan } from './types';

/**
 * The CD-ROM drive. Without media it is an empty tray (`ide-cd`/`scsi-cd` with no drive) so media
 * can be inserted later with `blockdev-change-medium id=cdrom0`. With media the image is opened
 * read-only as `raw`: an ISO is never probed, whatever its first bytes claim.
 */
export function cdromArgs(plan: LaunchPlan, buses: BusAllocator, boot: BootIndexes): string[] {
  const { cdrom } = plan.spec;
  if (!cdrom) return [];
  const args: string[] = [];
  if (cdrom.path) {
    args.push(
      '-blockdev',
      opts(
        ...(nfsProtocolOpts(plan, cdrom.path, '/spec/cdrom/path') ?? [
          ['driver', 'file'],
          ['filename', cdrom.path, '/spec/cdrom/path'],
        ]),
        ['node-name', CDROM_NODE_NAMES.file],
        ['read-only', true],
      ),
      '-blockdev',
      opts(
        ['driver', 'raw'],
        ['file', CDROM_NODE_NAMES.file],
        ['node-name', CDROM_NODE_NAMES.format],
        ['read-only', true],
      ),
    );
  }
  args.push(
    '-device',
    headed(
      cdrom.interface === 'scsi' ? 'scsi-cd' : 'ide-cd',
      ...buses.next(cdrom.interface, '/cdrom/interface'),
      ['drive', cdrom.path ? CDROM_NODE_NAMES.format : undefined],
      ['id', CDROM_DEVICE_ID],
      ['bootindex', boot.cdrom],
    ),
  );
  return args;
}
