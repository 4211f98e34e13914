// npm run apikey -- create --name NAME [--read-only] | list | revoke ID
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { openEmbedded, openPostgres, type Database } from '../db/client.js';
import { migrate } from '../db/migrate.js';
import { createApiKey, listApiKeys, revokeApiKey } from '../management/api-keys.js';
import { databaseStartupError, errorText } from '../startup-error.js';

const USAGE = 'usage: npm run apikey -- create --name NAME [--read-only] | list | revoke ID';

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { name: { type: 'string' }, 'read-only': { type: 'boolean' } } });
  const [command, arg] = positionals;
  const config = loadConfig();
  const database: Database = config.DATABASE_URL
    ? openPostgres({ url: config.DATABASE_URL })
    : await openEmbedded({ dataDir: config.TRACKLANE_DATA_DIR }).catch((err: unknown): never => {
        throw databaseStartupError(err, config);
      });
  try {
    await migrate(database).catch((err: unknown) => {
      throw databaseStartupError(err, config, database.describe);
    });
    switch (command) {
      case 'create': {
        if (!values.name) throw new Error('create needs --name NAME');
        const scope = values['read-only'] ? 'read' : 'admin';
        const { id, key } = await createApiKey(database.db, values.name, scope);
        process.stdout.write(`created ${scope} key ${id} "${values.name}" (shown once, keep it):\n${key}\n`);
        return 0;
      }
      case 'list': {
        for (const k of await listApiKeys(database.db)) {
          const state = k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active';
          process.stdout.write(`${k.id}\t${k.keyPrefix}…\t${k.name}\t${k.scope}\t${state}\tcreated ${k.createdAt.toISOString()}\n`);
        }
        return 0;
      }
      case 'revoke': {
        const id = Number(arg);
        if (!Number.isInteger(id) || id <= 0) throw new Error('revoke needs a key id (see list)');
        if (!(await revokeApiKey(database.db, id))) throw new Error(`no active key with id ${id}`);
        process.stdout.write(`revoked key ${id}\n`);
        return 0;
      }
      default:
        throw new Error(USAGE);
    }
  } finally {
    await database.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${errorText(err)}\n`);
    process.exit(1);
  },
);
