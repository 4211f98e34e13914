// Liveness and readiness for load balancers and orchestrators.
import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../context.js';

const within = <T>(ms: number, p: Promise<T>) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);

/** ioredis's words for "no connection, reconnecting" (the offline queue is off) say nothing to whoever reads /readyz. */
const failure = (name: string, err: Error) =>
  name === 'redis' && /Stream isn't writeable|Connection is closed/.test(err.message) ? 'not connected (reconnecting)' : err.message;

export async function readiness(ctx: Pick<AppContext, 'database' | 'store'>, timeoutMs = 1500) {
  const checks = { postgres: ctx.database.ping(), redis: ctx.store.ping() };
  const failing: Record<string, string> = {};
  await Promise.all(
    Object.entries(checks).map(([name, p]) => within(timeoutMs, p).catch((err: Error) => (failing[name] = failure(name, err)))),
  );
  return { ready: Object.keys(failing).length === 0, failing };
}

export const healthRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    const { ready, failing } = await readiness(ctx);
    const backends = { postgres: ctx.database.kind, redis: ctx.store.kind };
    if (ready) return { status: 'ready', backends };
    return reply.code(503).send({ status: 'unavailable', failing, backends });
  });
};
