// npm run migrate: apply pending migrations to DATABASE_URL (or the embedded database).
import { loadConfig } from '../config.js';
import { openEmbedded, openPostgres } from '../db/client.js';
import { migrate } from '../db/migrate.js';

const config = loadConfig();
const database = config.DATABASE_URL
  ? openPostgres({ url: config.DATABASE_URL })
  : await openEmbedded({ dataDir: config.TRACKLANE_DATA_DIR });
try {
  await migrate(database);
  process.stdout.write(`migrations applied to ${database.describe}\n`);
} finally {
  await database.close();
}
