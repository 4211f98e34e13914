// npm run migrate: apply pending migrations to DATABASE_URL (or the embedded database).
import { loadConfig } from '../config.js';
import { openEmbedded, openPostgres, type Database } from '../db/client.js';
import { migrate } from '../db/migrate.js';
import { databaseStartupError, errorText } from '../startup-error.js';

async function main(): Promise<void> {
  const config = loadConfig();
  let database: Database | undefined;
  try {
    database = config.DATABASE_URL ? openPostgres({ url: config.DATABASE_URL }) : await openEmbedded({ dataDir: config.TRACKLANE_DATA_DIR });
    await migrate(database);
    process.stdout.write(`migrations applied to ${database.describe}\n`);
  } catch (err) {
    throw databaseStartupError(err, config, database?.describe);
  } finally {
    await database?.close();
  }
}

// A bad setting, an unreachable Postgres or a data directory in use: one line, as the server says it.
main().catch((err: unknown) => {
  process.stderr.write(`migrate failed: ${errorText(err)}\n`);
  process.exit(1);
});
