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
    const { applied, total } = await migrate(database);
    // Say which: "applied" alone read the same on an up-to-date database as after a real change.
    process.stdout.write(
      applied > 0
        ? `applied ${applied} migration${applied === 1 ? '' : 's'} to ${database.describe} (${total} in all)\n`
        : `${database.describe} is up to date (${total} migrations)\n`,
    );
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
