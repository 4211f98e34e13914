// Which rollup grain covers which part of a report's range. Rollups exist at 15 minutes, 1 hour
// and 1 UTC day; a coarser row may stand in for its 15-minute rows only when it lies inside the
// range and every time dimension of the report (local day, hour...) is the same at its first and
// last quarter hour. So a 30-day report reads ~30 daily rows per group, and Asia/Kathmandu's
// days (starting at 18:15 UTC) still come out exact: their edge hours are read at 15 minutes.

export type Grain = 15 | 60 | 1440;
export interface Interval {
  grain: Grain;
  /** epoch ms, inclusive */
  start: number;
  /** epoch ms, exclusive */
  end: number;
}

export const QUARTER_MS = 15 * 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export const isQuarterAligned = (ms: number) => ms % QUARTER_MS === 0;

/** Starts of the whole UTC days and hours inside [from, to). */
export function candidates(from: number, to: number): { days: number[]; hours: number[] } {
  const days: number[] = [];
  for (let d = Math.ceil(from / DAY_MS) * DAY_MS; d + DAY_MS <= to; d += DAY_MS) days.push(d);
  const hours: number[] = [];
  for (let h = Math.ceil(from / HOUR_MS) * HOUR_MS; h + HOUR_MS <= to; h += HOUR_MS) hours.push(h);
  return { days, hours };
}

/**
 * Covers [from, to) (quarter-hour aligned) with the coarsest usable grain: days where `dayOk`,
 * then hours where `hourOk` outside those days, 15-minute buckets for the rest. Adjacent
 * intervals of one grain are merged.
 */
export function planBuckets(from: number, to: number, dayOk: (day: number) => boolean, hourOk: (hour: number) => boolean): Interval[] {
  if (!isQuarterAligned(from) || !isQuarterAligned(to)) throw new Error('planBuckets needs quarter-hour bounds');
  const out: Interval[] = [];
  const push = (grain: Grain, start: number, end: number) => {
    if (start >= end) return;
    const last = out.findLast((i) => i.grain === grain);
    if (last && last.end === start) last.end = end;
    else out.push({ grain, start, end });
  };
  let t = from;
  while (t < to) {
    if (t % DAY_MS === 0 && t + DAY_MS <= to && dayOk(t)) {
      push(1440, t, t + DAY_MS);
      t += DAY_MS;
    } else if (t % HOUR_MS === 0 && t + HOUR_MS <= to && hourOk(t)) {
      push(60, t, t + HOUR_MS);
      t += HOUR_MS;
    } else {
      push(15, t, t + QUARTER_MS);
      t += QUARTER_MS;
    }
  }
  return out;
}
