// A Postgres outage for one test database, as an operator would cause it: new connections refused
// and every open one cut, then allowed again. Only the named test database is touched.
import pg from 'pg';
import { adminUrl, assertTestDatabaseName } from './database-guard.js';

async function admin(fn: (c: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    await fn(client);
  } finally {
    await client.end();
  }
}

export async function refuseConnections(dbName: string): Promise<void> {
  assertTestDatabaseName(dbName);
  await admin(async (c) => {
    await c.query(`alter database "${dbName}" with allow_connections false`);
    await c.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [dbName]);
  });
}

export async function allowConnections(dbName: string): Promise<void> {
  assertTestDatabaseName(dbName);
  await admin((c) => c.query(`alter database "${dbName}" with allow_connections true`));
}
