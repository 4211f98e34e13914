// Applies pending migrations. On real Postgres an advisory lock serialises instances that start
// together: the first migrates, the others wait and then find nothing left to do.
import { fileURLToPath } from 'node:url';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import type { PgliteDatabase } from 'drizzle-orm/pglite';
import type { Database } from './client.js';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations', import.meta.url));
/** An arbitrary constant that names "Tracklane migrations" among advisory locks. */
const MIGRATION_LOCK_ID = 7_246_318_501;

export async function migrate(database: Database): Promise<void> {
  if (database.kind === 'embedded') {
    const { migrate: migratePglite } = await import('drizzle-orm/pglite/migrator');
    await migratePglite(database.db as unknown as PgliteDatabase<Record<string, unknown>>, {
      migrationsFolder: MIGRATIONS_FOLDER,
    });
    return;
  }
  const { migrate: migratePg } = await import('drizzle-orm/node-postgres/migrator');
  const lockClient = await database.pool!.connect();
  try {
    await lockClient.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    await migratePg(database.db as unknown as NodePgDatabase<Record<string, unknown>>, {
      migrationsFolder: MIGRATIONS_FOLDER,
    });
  } finally {
    await lockClient.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => undefined);
    lockClient.release();
  }
}
