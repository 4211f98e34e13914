// buildApp(config): the whole tracker as a Fastify instance, with plugins and routes registered
// in an explicit order. The server listens on it; tests build it and talk to it with inject.
import fastifyCookie from '@fastify/cookie';
import fastifyFormbody from '@fastify/formbody';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import pino from 'pino';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from './config.js';
import { createLifecycle, type AppContext } from './context.js';
import { openEmbedded, openPostgres, type Database } from './db/client.js';
import { withoutStatementParams } from './db/errors.js';
import { migrate } from './db/migrate.js';
import { requireApiKey } from './http/auth.js';
import { acceptEmptyJsonBodies, registerErrorHandling } from './http/errors.js';
import { healthRoutes } from './http/health.js';
import { cachedProxyTrust } from './http/ip.js';
import { createMetrics, metricsRoutes } from './http/metrics.js';
import { registerOpenApi } from './http/openapi.js';
import { rejectNulCharacters } from './http/reject-nul.js';
import { databaseStartupError } from './startup-error.js';
import { attributionApiRoutes } from './attribution/api-routes.js';
import { attributionRoutes } from './attribution/routes.js';
import { apiKeyRoutes } from './management/api-key-routes.js';
import { createCampaignCache } from './management/campaign-cache.js';
import { managementRoutes } from './management/management-routes.js';
import { reportingRoutes } from './reporting/routes.js';
import type { HotStore } from './store/hot-store.js';
import { createMemoryStore } from './store/memory-store.js';
import { createRedisStore } from './store/redis-store.js';
import { trackingRoutes } from './tracking/routes.js';

declare module 'fastify' {
  interface FastifyInstance {
    ctx: AppContext;
  }
}

export interface BuildAppOptions {
  config: Config;
  /** Injected by tests; otherwise opened from DATABASE_URL (or embedded) and closed with the app. */
  database?: Database;
  /** Injected by tests; otherwise opened from REDIS_URL (or in-process) and closed with the app. */
  store?: HotStore;
  /** Apply pending migrations before serving (the server does; tests use a migrated template). */
  migrate?: boolean;
  logger?: FastifyServerOptions['logger'];
}

export function loggerOptions(config: Config): FastifyServerOptions['logger'] {
  return {
    level: config.LOG_LEVEL,
    redact: {
      paths: ['req.headers.authorization', 'req.headers["api-key"]', 'req.headers.cookie', 'req.headers["x-tracklane-secret"]', 'res.headers["set-cookie"]'],
      censor: '[redacted]',
    },
    // A failed statement's parameters are what was being written, secrets included: logged without them.
    serializers: { err: withoutStatementParams(pino.stdSerializers.err) },
  };
}

export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const { config } = opts;
  const app = Fastify({
    logger: opts.logger ?? loggerOptions(config),
    // Only these proxies' X-Forwarded-For is believed; anyone else could forge a country or IP.
    trustProxy: config.TRUST_PROXY.length > 0 ? cachedProxyTrust(config.TRUST_PROXY) : false,
    // Per-request access logs cost more than the redirect itself at tracker volumes.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const lifecycle = createLifecycle(app.log);
  const database = opts.database ?? (await openDatabase(config, app).catch((err: unknown): never => {
    throw databaseStartupError(err, config);
  }));
  if (!opts.database) lifecycle.onShutdown('database', () => database.close());
  const store = opts.store ?? (await openStore(config, app));
  if (!opts.store) lifecycle.onShutdown('hot store', () => store.close());
  if (opts.migrate) {
    try {
      const { applied, total } = await migrate(database);
      if (applied > 0) app.log.info({ applied, total }, 'database migrated');
    } catch (err) {
      // Close what was opened (the embedded directory's lock, the pool) before the process exits.
      await lifecycle.shutdown();
      throw databaseStartupError(err, config, database.describe);
    }
  }

  const campaigns = await createCampaignCache({ db: database.db, store, log: app.log });
  lifecycle.onShutdown('campaign cache', () => campaigns.close());

  const metrics = createMetrics();
  const ctx: AppContext = { config, database, db: database.db, store, log: app.log, lifecycle, campaigns, metrics };
  app.decorate('ctx', ctx);
  app.addHook('onClose', async () => lifecycle.shutdown());

  registerErrorHandling(app);
  acceptEmptyJsonBodies(app);
  await app.register(fastifyCookie);
  await app.register(fastifyFormbody);
  await registerOpenApi(app, config);

  await app.register(healthRoutes, { ctx });
  await app.register(
    async (api) => {
      api.addHook('onRequest', requireApiKey(ctx));
      api.addHook('preValidation', rejectNulCharacters);
      await api.register(apiKeyRoutes, { ctx });
      await api.register(managementRoutes, { ctx });
      await api.register(attributionApiRoutes, { ctx });
      await api.register(reportingRoutes, { ctx });
      await api.register(metricsRoutes, { metrics });
    },
    { prefix: '/api' },
  );
  // /click, /cta and the click writer (sets ctx.clickWriter; its flush is a shutdown step).
  await app.register(trackingRoutes, { ctx });
  // /postback, /pixel.gif, /pixel.js, and the pending-attribution and forwarding workers.
  await app.register(attributionRoutes, { ctx });
  return app;
}

async function openDatabase(config: Config, app: FastifyInstance): Promise<Database> {
  if (config.DATABASE_URL) {
    return openPostgres({
      url: config.DATABASE_URL,
      poolMax: config.DB_POOL_MAX,
      onError: (err) => app.log.warn({ err }, 'postgres connection error'),
    });
  }
  return openEmbedded({
    dataDir: config.TRACKLANE_DATA_DIR,
    onThreadEvent: (event) => {
      if (event.type === 'died') app.log.error({ reason: event.reason }, 'embedded database thread stopped; starting it again (visits and postbacks are kept meanwhile)');
      else if (event.type === 'restarted') app.log.warn('embedded database thread started again');
      else app.log.error({ err: event.err }, 'embedded database thread could not start again; retrying');
    },
  });
}

async function openStore(config: Config, app: FastifyInstance): Promise<HotStore> {
  if (!config.REDIS_URL) return createMemoryStore();
  return createRedisStore({
    url: config.REDIS_URL,
    prefix: config.REDIS_PREFIX,
    commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
    onError: (err) => app.log.warn({ err: err.message }, 'redis connection error'),
  });
}
