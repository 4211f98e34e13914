// Finds the visit a conversion belongs to: the hot record in Redis (written by /click before the
// redirect), Postgres, and this instance's unflushed click buffer. The buffer is peeked before
// Postgres: it is free, and a click flushed while Postgres was being asked would otherwise be
// missed by both.
import type { ClickWriter } from '../context.js';
import type { Db } from '../db/client.js';
import type { HotStore } from '../store/hot-store.js';
import { loadHotClick, toHotClick, type HotClick, type VisitRow } from '../tracking/hot-click.js';
import { readStoredVisit } from '../tracking/stored-visit.js';

export type ClickRecord = Omit<HotClick, 'visitedAt'> & { visitedAt: Date };
export type ClickSource = 'hot' | 'postgres' | 'buffer';

/** Visit click IDs are at most this long (visits.click_id); longer ones cannot match a visit. */
const MAX_CLICK_ID = 24;

const fromVisit = (v: VisitRow): ClickRecord => ({ ...toHotClick(v), visitedAt: v.visitedAt });

export async function findClick(
  deps: { db: Db; store: HotStore; clickWriter?: ClickWriter },
  clickId: string,
): Promise<{ click: ClickRecord; source: ClickSource } | null> {
  if (clickId.length > MAX_CLICK_ID) return null;
  const hot = await loadHotClick(deps.store, clickId);
  if (hot) return { click: { ...hot, visitedAt: new Date(hot.visitedAt) }, source: 'hot' };
  const buffered = await deps.clickWriter?.peek(clickId);
  if (buffered) return { click: fromVisit(buffered), source: 'buffer' };
  // Read back whole: the stored row keeps role parameters in their columns only.
  const row = await readStoredVisit(deps.db, clickId);
  if (row) return { click: fromVisit(row), source: 'postgres' };
  return null;
}
