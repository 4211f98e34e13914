// Tests create, clone and drop databases: refuse to touch any whose name does not say "test".
export const TEST_DB_PREFIX = 'tracklane_test_';

export function assertTestDatabaseName(name: string): void {
  if (!name.startsWith(TEST_DB_PREFIX) || !/^[a-z0-9_]+$/.test(name)) {
    throw new Error(`refusing to drop or truncate database "${name}": test databases are named ${TEST_DB_PREFIX}*`);
  }
}

export const adminUrl = () => process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const testRedisUrl = () => process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The URL of another database on the same server as the admin URL. */
export function databaseUrl(name: string): string {
  const u = new URL(adminUrl());
  u.pathname = `/${name}`;
  return u.toString();
}
