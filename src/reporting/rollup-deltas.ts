// Folds the rollup deltas into the report rollups: visit groups (appended by the visits and
// lander_clicks triggers, migration 0013) into report_visit_rollup, signed conversion rows
// (migration 0011) into report_conversion_rollup. Every ROLLUP_FOLD_MS in the background, and
// before every report so a report always counts every row committed before it started.
import { sql } from 'drizzle-orm';
import type { AppContext } from '../context.js';
import { rows, type Db } from '../db/client.js';
import { startPeriodic } from '../periodic.js';

/**
 * Moves every committed delta into the rollups. `wait` = true waits for a fold another instance is
 * running (a report needs what it commits); false skips when one is running (the worker).
 * Returns the number of rollup rows changed.
 */
export async function foldRollupDeltas(db: Db, { wait = true } = {}): Promise<number> {
  // One round trip; each function takes its own lock and commits with this statement.
  const [r] = await rows<{ n: number }>(db, sql`select tracklane_fold_visit_deltas(${wait}) + tracklane_fold_conversion_deltas(${wait}) as n`);
  return Number(r.n);
}

/**
 * Reclaims the space of folded deltas. Autovacuum does it where it runs (the tables' thresholds are
 * low), but a CI-style Postgres may run without it, and an append-then-delete table grows by every
 * batch until vacuumed.
 */
export async function vacuumRollupDeltas(db: Db): Promise<void> {
  await db.execute(sql`vacuum report_visit_delta, report_conversion_delta`);
}

export interface DeltaFolderStats {
  folds: number;
  errors: number;
}

/** Starts the background fold; stops it (after one last fold) on shutdown. */
export function startRollupDeltaFolder(ctx: AppContext, everyMs: number, { vacuumEvery = 30 } = {}): DeltaFolderStats {
  const stats: DeltaFolderStats = { folds: 0, errors: 0 };
  let sinceVacuum = 0;
  const pass = async () => {
    const changed = await foldRollupDeltas(ctx.db, { wait: false });
    stats.folds++;
    if (changed > 0) sinceVacuum++;
    if (sinceVacuum >= vacuumEvery) {
      sinceVacuum = 0;
      await vacuumRollupDeltas(ctx.db);
    }
  };
  startPeriodic(ctx, {
    name: 'rollup fold',
    everyMs,
    run: pass,
    onError: () => void stats.errors++,
    // Not needed for exactness (deltas are durable and the next report folds them), only so an
    // idle database holds none.
    onStop: () =>
      foldRollupDeltas(ctx.db, { wait: false }).then(
        () => undefined,
        (err: Error) => {
          stats.errors++;
          ctx.log.warn({ err }, 'last rollup delta fold failed');
        },
      ),
  });
  return stats;
}
