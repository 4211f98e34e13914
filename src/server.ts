// Process entry: parse config, build the app (migrating first), listen, and shut down gracefully:
// stop accepting, finish in-flight requests, run every shutdown step (the click writer flushes), exit.
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createApiKey, listApiKeys } from './management/api-keys.js';
import { listenStartupError, startupFailureLine } from './startup-error.js';

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

async function main() {
  const config = readConfig();
  const app = await buildApp({ config, migrate: true });
  const { database, store } = app.ctx;
  app.log.info({ postgres: database.describe, redis: store.describe }, 'backends');
  if (database.kind === 'embedded' || store.kind === 'memory') {
    app.log.warn('running on embedded defaults: fine for one instance; several instances need DATABASE_URL and REDIS_URL');
  }

  closeWithGrace({ delay: config.SHUTDOWN_TIMEOUT_MS }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error');
    else app.log.info({ signal }, 'shutting down');
    await app.close();
  });

  try {
    await app.listen({ port: config.PORT, host: config.HOST });
  } catch (err) {
    // Release the embedded data directory and the pool; nothing was answered yet.
    await app.close().catch((closeErr: unknown) => app.log.error({ err: closeErr }, 'closing after a failed listen'));
    throw listenStartupError(err, config);
  }
  app.log.info(`Tracklane is up: campaign links on ${config.PUBLIC_URL}/click/KEY, API docs on ${config.PUBLIC_URL}/docs`);
  await announceApiKey(app.ctx.database.kind, config, app);
}

/** On a fresh embedded install, make the first key so the quick start needs no second tool. */
async function announceApiKey(kind: string, config: Config, app: Awaited<ReturnType<typeof buildApp>>) {
  if (config.TRACKLANE_API_KEY) return;
  const keys = await listApiKeys(app.ctx.db);
  if (keys.some((k) => !k.revokedAt)) return;
  if (kind === 'embedded') {
    const { key } = await createApiKey(app.ctx.db, 'first key');
    process.stdout.write(`\nYour first API key (shown once, keep it): ${key}\nTry: curl -H 'api-key: ${key}' ${config.PUBLIC_URL}/api/campaigns\n\n`);
  } else {
    app.log.warn('no API key exists yet: create one with `npm run apikey -- create --name NAME`');
  }
}

main().catch((err) => {
  process.stderr.write(`${startupFailureLine(err)}\n`);
  process.exit(1);
});
