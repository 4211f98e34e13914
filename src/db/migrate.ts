// Applies pending migrations. On real Postgres an advisory lock serialises instances that start
// together: the first migrates, the others wait and then find nothing left to do.
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import type { PgliteDatabase } from 'drizzle-orm/pglite';
import { rows, type Database } from './client.js';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations', import.meta.url));
/** An arbitrary constant that names "Tracklane migrations" among advisory locks. */
const MIGRATION_LOCK_ID = 7_246_318_501;

export interface MigrateResult {
  /** Migrations this call applied (0: the database was up to date). */
  applied: number;
  /** Migrations the database has now. */
  total: number;
}

/** Migrations recorded in drizzle's journal table; 0 on an empty database. */
async function appliedCount(database: Database): Promise<number> {
  const [table] = await rows<{ name: string | null }>(database.db, sql`select to_regclass('drizzle.__drizzle_migrations')::text as name`);
  if (!table?.name) return 0;
  const [row] = await rows<{ n: number }>(database.db, sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
  return row.n;
}

export async function migrate(database: Database): Promise<MigrateResult> {
  if (database.kind === 'embedded') {
    const before = await appliedCount(database);
    const { migrate: migratePglite } = await import('drizzle-orm/pglite/migrator');
    await migratePglite(database.db as unknown as PgliteDatabase<Record<string, unknown>>, {
      migrationsFolder: MIGRATIONS_FOLDER,
    });
    const total = await appliedCount(database);
    return { applied: total - before, total };
  }
  const { migrate: migratePg } = await import('drizzle-orm/node-postgres/migrator');
  const lockClient = await database.pool!.connect();
  try {
    await lockClient.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    // Counted under the lock: an instance that waited for another's migrations applied none itself.
    const before = await appliedCount(database);
    await migratePg(database.db as unknown as NodePgDatabase<Record<string, unknown>>, {
      migrationsFolder: MIGRATIONS_FOLDER,
    });
    const total = await appliedCount(database);
    return { applied: total - before, total };
  } finally {
    await lockClient.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => undefined);
    lockClient.release();
  }
}
