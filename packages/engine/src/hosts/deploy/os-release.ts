/** The fields of `/etc/os-release` the deploy checks. */
export interface OsRelease {
  id: string;
  versionId: string;
  prettyName: string;
}

/** Parses os-release(5) text: `KEY=value` lines, values optionally quoted. Unknown keys are ignored. */
export function parseOsRelease(text: string): OsRelease {
  const fields = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!match?.[1]) continue;
    let value = match[2] ?? '';
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) {
      value = value.slice(1, -1).replace(/\\(["'$`\\])/g, '$1');
    }
    fields.set(match[1], value);
  }
  return {
    id: fields.get('ID') ?? '',
    versionId: fields.get('VERSION_ID') ?? '',
    prettyName: fields.get('PRETTY_NAME') ?? '',
  };
}

/** Vireo hosts run Debian 12 ("bookworm"): the QEMU and kernel facts the agent relies on were measured there. */
export function isSupportedOs(os: OsRelease): boolean {
  return os.id === 'debian' && os.versionId === '12';
}
