// Folds the conversion deltas (appended by the conversions triggers, migration 0011) into
// report_conversion_rollup: every ROLLUP_FOLD_MS in the background, and before every report so a
// report always counts every conversion committed before it started.
import { sql } from 'drizzle-orm';
import type { AppContext } from '../context.js';
import { rows, type Db } from '../db/client.js';

/**
 * Moves every committed delta into the rollup. `wait` = true waits for a fold another instance is
 * running (a report needs what it commits); false skips when one is running (the worker).
 * Returns the number of rollup rows changed.
 */
export async function foldConversionDeltas(db: Db, { wait = true } = {}): Promise<number> {
  const [r] = await rows<{ n: number }>(db, sql`select tracklane_fold_conversion_deltas(${wait}) as n`);
  return Number(r.n);
}

/**
 * Reclaims the space of folded deltas. Autovacuum does it where it runs (the table's thresholds are
 * low), but a CI-style Postgres may run without it, and an append-then-delete table grows by every
 * postback until vacuumed.
 */
export async function vacuumConversionDeltas(db: Db): Promise<void> {
  await db.execute(sql`vacuum report_conversion_delta`);
}

export interface DeltaFolderStats {
  folds: number;
  errors: number;
}

/** Starts the background fold; stops it (after one last fold) on shutdown. */
export function startConversionDeltaFolder(ctx: AppContext, everyMs: number, { vacuumEvery = 30 } = {}): DeltaFolderStats {
  const stats: DeltaFolderStats = { folds: 0, errors: 0 };
  let running: Promise<void> | undefined;
  let stopped = false;
  let sinceVacuum = 0;
  const pass = async () => {
    const changed = await foldConversionDeltas(ctx.db, { wait: false });
    stats.folds++;
    if (changed > 0) sinceVacuum++;
    if (sinceVacuum >= vacuumEvery) {
      sinceVacuum = 0;
      await vacuumConversionDeltas(ctx.db);
    }
  };
  const tick = () => {
    if (running || stopped) return;
    running = pass()
      .catch((err: Error) => {
        stats.errors++;
        ctx.log.error({ err, worker: 'conversion rollup fold' }, 'folding conversion deltas failed');
      })
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, everyMs);
  timer.unref();
  ctx.lifecycle.onShutdown('conversion rollup fold', async () => {
    stopped = true;
    clearInterval(timer);
    await running;
    // Not needed for exactness (deltas are durable and the next report folds them), only so an
    // idle database holds none.
    await foldConversionDeltas(ctx.db, { wait: false }).catch((err: Error) => {
      stats.errors++;
      ctx.log.warn({ err }, 'last conversion delta fold failed');
    });
  });
  return stats;
}
