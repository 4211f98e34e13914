// Once per test run: migrate a template database that every test file clones (fast), and drop
// leftovers of crashed runs. Each run has its own template, so concurrent runs never collide.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { openPostgres } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import { adminUrl, assertTestDatabaseName, databaseUrl, TEST_DB_PREFIX } from './database-guard.js';

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}

const STALE_AFTER_SECONDS = 6 * 3600;

export async function dropDatabase(admin: pg.Client, name: string) {
  assertTestDatabaseName(name);
  await admin.query(`drop database if exists "${name}" with (force)`);
}

export default async function setup(project: TestProject) {
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  const now = Math.floor(Date.now() / 1000);
  const { rows } = await admin.query<{ datname: string }>('select datname from pg_database where datname like $1', [`${TEST_DB_PREFIX}%`]);
  for (const { datname } of rows) {
    const born = Number(/_(\d{10})_/.exec(datname)?.[1]);
    if (born && now - born > STALE_AFTER_SECONDS) await dropDatabase(admin, datname).catch(() => undefined);
  }

  const template = `${TEST_DB_PREFIX}tpl_${now}_${randomBytes(4).toString('hex')}`;
  assertTestDatabaseName(template);
  await admin.query(`create database "${template}"`);
  const database = openPostgres({ url: databaseUrl(template), poolMax: 2 });
  try {
    await migrate(database);
  } catch (err) {
    // No teardown runs for a setup that throws: drop the half-migrated template here.
    await database.close().catch(() => undefined);
    await dropDatabase(admin, template).catch(() => undefined);
    await admin.end();
    throw err;
  }
  await database.close();
  project.provide('templateDatabase', template);

  return async () => {
    await dropDatabase(admin, template).catch(() => undefined);
    await admin.end();
  };
}
