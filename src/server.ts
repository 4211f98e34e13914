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

  closeWithGrace(
    {
      delay: config.SHUTDOWN_TIMEOUT_MS,
      // In the log's own format: a plain-text line in a JSON log is one a log pipeline drops.
      logger: { error: (err: unknown) => app.log.error({ err }, 'shutdown failed') },
      onTimeout: (ms) => app.log.fatal({ timeoutMs: ms }, 'shutdown did not finish within SHUTDOWN_TIMEOUT_MS; exiting with whatever is not written yet'),
      onSecondSignal: (signal) => app.log.fatal({ signal }, 'second signal while shutting down; exiting now, without finishing the shutdown'),
      onSecondError: (err) => app.log.fatal({ err }, 'second error while shutting down; exiting now'),
    },
    async ({ signal, err }) => {
      const started = Date.now();
      if (err) app.log.error({ err }, 'shutting down after an error');
      else app.log.info({ signal }, 'shutting down');
      await closeDraining(app, drainBudgetMs(config));
      app.log.info({ ms: Date.now() - started }, 'stopped');
    },
  );

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

/**
 * How long requests in flight may take to finish at shutdown: a quarter of SHUTDOWN_TIMEOUT_MS, so
 * that the shutdown steps after it (writing buffered visits gets half) always get their turn.
 */
const drainBudgetMs = (config: Pick<Config, 'SHUTDOWN_TIMEOUT_MS'>) => Math.floor(config.SHUTDOWN_TIMEOUT_MS / 4);

/**
 * app.close(), which waits for every request in flight before it runs the shutdown steps: one that
 * does not end (a client sending its body a byte a second, a report on a hung Postgres) held them
 * all until SHUTDOWN_TIMEOUT_MS killed the process with its visits unwritten. Past `drainMs` the
 * connections still open are cut.
 */
async function closeDraining(app: Awaited<ReturnType<typeof buildApp>>, drainMs: number): Promise<void> {
  const cut = setTimeout(() => {
    app.log.warn({ afterMs: drainMs }, 'requests still in flight at shutdown; closing their connections');
    app.server.closeAllConnections();
  }, drainMs);
  cut.unref();
  // The server closes once its last request ended; app.close() then goes on with the shutdown steps.
  app.server.once('close', () => clearTimeout(cut));
  try {
    await app.close();
  } finally {
    clearTimeout(cut);
  }
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
