import { FormattedDate, FormattedNumber } from 'react-intl';

/** A timestamp in the reader's locale (date and time), the ISO value in the tooltip. */
export function When({ value }: { value: string | null | undefined }) {
  if (!value) return <>—</>;
  return (
    <time dateTime={value} title={value}>
      <FormattedDate value={value} dateStyle="medium" timeStyle="short" />
    </time>
  );
}

// Intl has no binary units: sizes are computed in 1024s and shown with the usual MB/GB/TB names.
const UNITS = ['megabyte', 'gigabyte', 'terabyte'] as const;

/** MiB as a human size in the reader's locale (1536 → "1.5 GB" / "1.5吉字节"). */
export function MemorySize({ mib }: { mib: number }) {
  let v = mib;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return (
    <FormattedNumber value={v} style="unit" unit={UNITS[i]} unitDisplay="short" maximumFractionDigits={1} />
  );
}
