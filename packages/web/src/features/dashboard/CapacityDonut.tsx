import type { Capacity } from './aggregate';
import { percentOf } from './aggregate';

const R = 40;
const CIRCUMFERENCE = 2 * Math.PI * R;

/** Colour of the used arc: calm below 75 %, a warning to 90 %, then danger (as most admin tools). */
export function usageColor(percent: number | null): string {
  if (percent === null) return '#d2d2d2';
  if (percent >= 90) return '#b1380b';
  if (percent >= 75) return '#dca614';
  return '#0066cc';
}

/**
 * A utilization donut drawn with SVG attributes only (no inline styles, so the strict CSP holds).
 * The centre shows the percentage; `caption` below says used of total in words.
 */
export function CapacityDonut({
  capacity,
  title,
  caption,
  percentText,
}: {
  capacity: Capacity;
  title: string;
  caption: string;
  percentText: string;
}) {
  const percent = percentOf(capacity);
  // Over-allocation (vCPUs > CPUs) shows a full ring; the caption tells the real figure.
  const filled = Math.min(100, percent ?? 0) / 100;
  return (
    <figure className="vireo-donut" data-testid="capacity-donut">
      <svg viewBox="0 0 100 100" width="120" height="120" role="img" aria-label={`${title}: ${caption}`}>
        <circle cx="50" cy="50" r={R} fill="none" stroke="#f0f0f0" strokeWidth="12" />
        <circle
          cx="50"
          cy="50"
          r={R}
          fill="none"
          stroke={usageColor(percent)}
          strokeWidth="12"
          strokeDasharray={`${filled * CIRCUMFERENCE} ${CIRCUMFERENCE}`}
          transform="rotate(-90 50 50)"
        />
        <text x="50" y="55" textAnchor="middle" fontSize="16" fill="currentColor">
          {percentText}
        </text>
      </svg>
      <figcaption>
        <strong>{title}</strong>
        <br />
        {caption}
      </figcaption>
    </figure>
  );
}
