// The baseline the tracker is measured against: a bare Fastify app answering the same requests
// with the same shape of answer (a 302 with a similar Location and Set-Cookie for /click, a tiny
// 200 for /postback) and doing nothing else. Run as its own process by bench/run.ts.
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';

const OFFER = 'https://offer.example.com/lp';

export function buildBaseline() {
  const app = Fastify({ logger: false, disableRequestLogging: true, trustProxy: '127.0.0.1' });
  app.get<{ Params: { key: string }; Querystring: Record<string, string> }>('/click/:key', async (req, reply) => {
    const clickId = randomBytes(12).toString('hex').slice(0, 22);
    const location = new URL(OFFER);
    location.searchParams.set('sub1', clickId);
    location.searchParams.set('sub2', req.params.key);
    location.searchParams.set('adset', req.query.adset_id ?? '');
    return reply
      .code(302)
      .header('location', location.toString())
      .header('set-cookie', `tl_cid=${clickId}; Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax`)
      .header('cache-control', 'no-store')
      .send();
  });
  app.get('/postback', async (_req, reply) => reply.type('text/plain').send('OK'));
  app.get('/healthz', async () => ({ status: 'ok' }));
  return app;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const port = Number(process.env.PORT ?? 0);
  const app = buildBaseline();
  await app.listen({ host: '127.0.0.1', port });
  process.send?.({ ready: true });
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}
