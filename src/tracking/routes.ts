// Routes for the tracking capability: /click/:key (the hot path), /cta and /cta/:n (lander
// click-throughs), /visit/:key (direct tracking), /dm (second hop of a double meta refresh) and
// /api/tracking/status. Setting it up opens the geo database and starts the click writer, whose
// flush is a shutdown step.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.js';
import { requireApiKey } from '../http/auth.js';
import { answer, apiReadErrors, ErrorOut } from '../http/answers.js';
import { createClickIdGenerator } from './click-id.js';
import {
  CLICK_COOKIE,
  handleClick,
  handleCta,
  newCounters,
  signRedirect,
  verifyRedirect,
  type Answer,
  type ClickRequest,
  type ClickResult,
  type CookieToSet,
  type TrackingDeps,
} from './click.js';
import { startLocalRecording, type RecordingSettings } from './recording.js';
import { startRemoteRecorder } from './remote-recorder.js';
import { observeTracking } from './metrics.js';
import { startOfferCapMonitor } from './offer-caps.js';
import { startRetentionWorker } from './retention.js';
import { TRACK_SCRIPT } from './track-script.js';
import { metaRefreshPage, safeUrl } from './destination.js';
import { createVisitorResolver, type VisitorInput } from './visitor.js';

const EMBEDDED_BATCH_MAX = 500;
/** The query parameter in which track.js sends /visit the page's document.referrer (not kept as a visit parameter). */
const PAGE_REFERRER_PARAM = 'tl_referrer';

/**
 * The recording thread needs a Postgres and a Redis it can open itself; the embedded database
 * and the in-process store live on this thread, so they record here.
 */
function usesRecordingThread(ctx: AppContext): boolean {
  return ctx.config.CLICK_RECORDER === 'thread' && ctx.database.kind === 'postgres' && ctx.config.DATABASE_URL !== undefined && ctx.store.kind === 'redis';
}

const ClickParams = z.object({ key: z.string().min(1).max(64).describe('the campaign key') });
const CtaQuery = z.object({
  cid: z.string().max(64).optional().describe('click ID, when the lander cannot rely on the cookie'),
  campaign: z.string().max(64).optional().describe('campaign key: with an unknown click ID, send to its default offer'),
});
const CtaParams = z.object({ n: z.coerce.number().int().min(1).max(100).describe('offer slot on a multi-offer lander (1-based)') });
/**
 * The public links' OpenAPI texts. `security: []`: no API key (the document's default asks for
 * one). Documentation only: their answers are strings or empty, which Fastify never serializes,
 * so nothing here runs per request.
 */
const PUBLIC = { security: [] };
/** Loosely typed: these handlers return the reply they sent, which a typed string answer would refuse. */
const docOnly = (answers: Record<number, unknown>) => answers;
const html = (description: string) => ({ description, content: { 'text/html': { schema: z.string() } } });
const text = (description: string) => ({ description, content: { 'text/plain': { schema: z.string() } } });
const REDIRECT = z.undefined().describe('Redirect: the Location header is where the visitor goes.');
const META_PAGE = html("The campaign's redirectMode is meta or doubleMeta: a page that refreshes to the destination.");
const UNKNOWN_LINK = text('Unknown, paused (without fallbackUrl) or archived campaign.');

const DmQuery = z.object({
  u: z.string().max(8192).describe('the destination URL, as the first hop wrote it'),
  s: z.string().max(64).describe('signature of u with REDIRECT_SIGNING_SECRET; any other URL gets 404'),
});

export const trackingRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (fastify, { ctx }) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { config } = ctx;
  const counters = newCounters();
  const visitors = await createVisitorResolver({
    geoDbPath: config.GEOIP_DB,
    botIpDenylist: config.BOT_IP_DENYLIST,
    onGeoError: (err) => {
      counters.geoLookupFailed++;
      ctx.log.debug({ err: err.message }, 'geo lookup failed');
    },
  });
  if (!visitors.geoDb) ctx.log.warn({ path: config.GEOIP_DB ?? 'bundled' }, 'geo database not available: visits are recorded without a country');

  const recording: RecordingSettings = {
    // The embedded database is one connection: a batch's insert holds every other statement (a
    // postback, a report) until it ends, so at most 500 rows there. Postgres takes bigger batches
    // better, on connections of their own.
    batchMax: ctx.database.kind === 'embedded' ? Math.min(config.CLICK_BATCH_MAX, EMBEDDED_BATCH_MAX) : config.CLICK_BATCH_MAX,
    flushMs: config.CLICK_FLUSH_MS,
    bufferMax: config.CLICK_BUFFER_MAX,
    spillDir: config.CLICK_SPILL_DIR ?? join(config.TRACKLANE_DATA_DIR, 'spill'),
    // Past the Redis command timeout, so a slow answer still counts; a hung store cannot hold visits back.
    holdTimeoutMs: Math.max(1000, config.REDIS_COMMAND_TIMEOUT_MS * 2),
    // Half the shutdown budget for writing; what Postgres has not taken by then is spilled in time.
    closeBudgetMs: Math.floor(config.SHUTDOWN_TIMEOUT_MS / 2),
    uniqueWindowHours: config.UNIQUE_WINDOW_HOURS,
  };
  const { writer, recorder } = usesRecordingThread(ctx)
    ? await startRemoteRecorder(
        {
          ...recording,
          databaseUrl: config.DATABASE_URL!,
          poolMax: Math.max(2, Math.min(4, config.DB_POOL_MAX)),
          redisUrl: config.REDIS_URL!,
          redisPrefix: config.REDIS_PREFIX,
          redisCommandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
          logLevel: config.LOG_LEVEL,
          statsEveryMs: 1000,
        },
        counters,
        ctx.log,
      )
    : await startLocalRecording({ db: ctx.db, pool: ctx.database.pool, store: ctx.store, log: ctx.log, counters }, recording);
  ctx.clickWriter = writer;
  ctx.offerCaps = startOfferCapMonitor(ctx);
  observeTracking(ctx.metrics, counters, writer);
  if (config.VISIT_RETENTION_DAYS > 0) {
    const retention = startRetentionWorker(ctx, config.VISIT_RETENTION_DAYS);
    ctx.metrics.observe('counter', 'visits_deleted_total', 'Raw visits deleted past VISIT_RETENTION_DAYS', () => retention.visitsDeleted);
    ctx.metrics.observe('counter', 'visit_retention_errors_total', 'Failed visit retention passes', () => retention.errors);
  }
  // Registered after the database, so it runs before the database closes (steps run in reverse).
  ctx.lifecycle.onShutdown('click writer', () => writer.close());

  const signingSecret = config.REDIRECT_SIGNING_SECRET ?? randomBytes(32).toString('hex');
  const deps: TrackingDeps = {
    campaigns: ctx.campaigns,
    store: ctx.store,
    db: ctx.db,
    writer,
    recorder,
    visitors,
    ids: createClickIdGenerator(),
    random: Math.random,
    now: () => new Date(),
    log: ctx.log,
    counters,
    uniqueWindowHours: config.UNIQUE_WINDOW_HOURS,
    signingSecret,
    offerCaps: ctx.offerCaps,
  };
  const secure = config.PUBLIC_URL.startsWith('https:');

  // What @fastify/cookie's setCookie would write for these attributes. Written as a header
  // directly: its per-reply map, option objects and generic serializer were ~2% of /click's
  // profile under load, and our values (click and visitor IDs) are letters and digits, so nothing
  // needs encoding.
  const cookieTail = `; Path=/; HttpOnly;${secure ? ' Secure;' : ''} SameSite=${config.COOKIE_SAMESITE === 'none' ? 'None' : 'Lax'}`;
  const setCookies = (reply: FastifyReply, cookies: readonly CookieToSet[]) => {
    if (cookies.length > 0) void reply.header('set-cookie', cookies.map((c) => `${c.name}=${c.value}; Max-Age=${Math.floor(c.maxAgeSeconds)}${cookieTail}`));
    // The answer depends on the visitor and the dice: no shared cache may keep it.
    void reply.header('cache-control', 'no-store');
  };
  const send = (reply: FastifyReply, answer: Answer): FastifyReply => {
    if (answer.kind === 'not_found') return reply.code(404).type('text/plain; charset=utf-8').send(answer.message);
    setCookies(reply, answer.cookies);
    if (answer.mode === 'meta') return reply.code(200).type('text/html; charset=utf-8').send(metaRefreshPage(answer.url));
    if (answer.mode === 'doubleMeta') {
      const hop = `/dm?u=${encodeURIComponent(answer.url)}&s=${signRedirect(signingSecret, answer.url)}`;
      return reply.code(200).header('referrer-policy', 'no-referrer').type('text/html; charset=utf-8').send(metaRefreshPage(hop, { noReferrer: true }));
    }
    return reply.code(302).header('location', answer.url).send();
  };
  const record = (result: ClickResult) => {
    try {
      result.record?.();
    } catch (err) {
      ctx.log.error({ err }, 'recording a visit failed');
    }
  };
  const finish = (reply: FastifyReply, result: ClickResult): FastifyReply => {
    send(reply, result.answer);
    record(result);
    return reply;
  };
  const visitorInput = (req: FastifyRequest): VisitorInput => ({
    ip: req.ip,
    method: req.method,
    userAgent: req.headers['user-agent'],
    acceptLanguage: req.headers['accept-language'],
    referer: req.headers.referer,
  });
  const clickRequest = (key: string, req: FastifyRequest): ClickRequest => ({
    key,
    query: req.query as Record<string, string | string[]>,
    cookies: req.cookies,
    visitor: visitorInput(req),
  });

  app.get(
    '/click/:key',
    {
      schema: {
        tags: ['tracking'],
        operationId: 'click',
        ...PUBLIC,
        summary: 'Campaign link: records the visit and redirects (302, meta or double meta)',
        description: 'Query parameters are the traffic source parameters; every one is kept with the visit.',
        params: ClickParams,
        response: docOnly({ 302: REDIRECT, 200: META_PAGE, 404: UNKNOWN_LINK }),
      },
    },
    (req, reply) => finish(reply, handleClick(deps, clickRequest(req.params.key, req))),
  );

  // Direct tracking: the ad links straight to the lander (Facebook and Google prefer links without
  // a redirect), and a script on the lander asks for the visit here with the page's query string.
  // Same choice and recording as /click; the answer is what the script needs: the click ID for
  // /cta?cid= and where /click would have sent the visitor. Any page may call it (CORS *, no
  // credentials): it answers nothing that the link itself would not.
  app.get(
    '/visit/:key',
    {
      schema: {
        tags: ['tracking'],
        operationId: 'trackVisit',
        ...PUBLIC,
        summary: 'Direct tracking: records the visit like /click and answers JSON instead of redirecting',
        description: 'For landers the ad links to directly: call it from the page with the page\'s query string (plus `tl_referrer=` the page\'s `document.referrer`, used as the visit\'s referrer instead of the call\'s Referer, which is the lander), keep `clickId`, and send the visitor on through `ctaUrl` (/cta?cid=).',
        params: ClickParams,
        response: {
          200: answer(
            'The visit is recorded (unless the campaign is paused): where /click would have sent the visitor.',
            z.object({
              clickId: z.string().nullable().describe('null when the campaign is paused (no visit is recorded)'),
              destination: z.string().describe('the URL /click would redirect to'),
              ctaUrl: z.string().nullable().describe('PUBLIC_URL/cta?cid=CLICKID: the link that sends the visitor on; null without a click ID'),
            }),
          ),
          404: answer('Unknown, paused (without fallbackUrl) or archived campaign.', ErrorOut),
        },
      },
    },
    (req, reply) => {
      const request = clickRequest(req.params.key, req);
      // track.js sends the page's referrer: the Referer of its call is the lander, never the ad network.
      const pageReferrer = request.query[PAGE_REFERRER_PARAM];
      if (pageReferrer !== undefined) {
        const { [PAGE_REFERRER_PARAM]: _sent, ...query } = request.query;
        request.query = query;
        request.visitor.referer = (Array.isArray(pageReferrer) ? pageReferrer[0] : pageReferrer) || undefined;
      }
      const result = handleClick(deps, request);
      const { answer } = result;
      void reply.header('access-control-allow-origin', '*');
      if (answer.kind === 'not_found') {
        void reply.code(404).send({ error: { code: 'not_found', message: answer.message } });
        return;
      }
      setCookies(reply, answer.cookies);
      // A paused campaign's fallback records no visit and sets no click ID.
      const clickId = answer.cookies.find((c) => c.name === CLICK_COOKIE)?.value ?? null;
      void reply.send({ clickId, destination: answer.url, ctaUrl: clickId ? `${config.PUBLIC_URL}/cta?cid=${clickId}` : null });
      record(result);
    },
  );

  const cta = async (req: FastifyRequest & { query: z.infer<typeof CtaQuery> }, reply: FastifyReply, slot: number | undefined) => {
    const result = await handleCta(deps, { slot, cid: req.query.cid, campaignKey: req.query.campaign, cookies: req.cookies, visitor: visitorInput(req) });
    // A HEAD (a link checker, a prefetch) follows no link: it gets the answer but is no click-through,
    // and must not count for CTR nor move the visit's hot record to another offer.
    if (req.method === 'HEAD') return send(reply, result.answer);
    return finish(reply, result);
  };
  app.get(
    '/cta',
    {
      schema: {
        tags: ['tracking'],
        operationId: 'ctaClickThrough',
        ...PUBLIC,
        summary: "Lander click-through to the visit's offer",
        description:
          'The click ID comes from the tlcid cookie or `cid`. An unknown click is a 404, unless `campaign` names a campaign: then an offer of its default paths (a paused campaign: its fallbackUrl).',
        querystring: CtaQuery,
        response: docOnly({ 302: REDIRECT, 200: META_PAGE, 404: text('Unknown click, and no campaign to fall back on.') }),
      },
    },
    (req, reply) => cta(req, reply, undefined),
  );
  app.get(
    '/cta/:n',
    {
      schema: {
        tags: ['tracking'],
        operationId: 'ctaClickThroughSlot',
        ...PUBLIC,
        summary: 'Lander click-through to offer slot n of a multi-offer lander',
        querystring: CtaQuery,
        params: CtaParams,
        response: docOnly({ 302: REDIRECT, 200: META_PAGE, 404: text('Unknown click, and no campaign to fall back on.') }),
      },
    },
    (req, reply) => cta(req, reply, req.params.n),
  );
  app.get(
    '/track.js',
    {
      schema: {
        tags: ['tracking'],
        operationId: 'getTrackScript',
        ...PUBLIC,
        summary: 'Direct-tracking script for landers: <script src="PUBLIC_URL/track.js?campaign=KEY" async>',
        response: docOnly({ 200: { description: 'The script.', content: { 'application/javascript': { schema: z.string() } } } }),
      },
    },
    (_req, reply) => reply.header('cache-control', 'public, max-age=3600').type('application/javascript; charset=utf-8').send(TRACK_SCRIPT),
  );
  app.get(
    '/dm',
    {
      schema: {
        tags: ['tracking'],
        operationId: 'doubleMetaHop',
        ...PUBLIC,
        summary: 'Second hop of a double meta refresh (signed; not an open redirect)',
        querystring: DmQuery,
        response: docOnly({ 200: html('A page that refreshes to u, sending no referrer.'), 404: text('u is not signed by this tracker.') }),
      },
    },
    (req, reply) => {
      const url = safeUrl(req.query.u);
      if (!url || url !== req.query.u || !verifyRedirect(signingSecret, url, req.query.s)) {
        return reply.code(404).type('text/plain; charset=utf-8').send('unknown redirect');
      }
      return reply.code(200).header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').type('text/html; charset=utf-8').send(metaRefreshPage(url, { noReferrer: true }));
    },
  );

  await app.register(async (api) => {
    api.addHook('onRequest', requireApiKey(ctx));
    api.withTypeProvider<ZodTypeProvider>().get(
      '/api/tracking/status',
      {
        schema: {
          tags: ['ops'],
          operationId: 'getTrackingStatus',
          summary: 'Click writer and tracking counters: buffered, written, spilled, dropped visits and why',
          response: {
            200: answer(
              'The counters since start-up, of this instance.',
              z.object({
                geoDb: z.string().nullable().describe('the geo database file in use; null: visits are recorded without a country'),
                counters: z.record(z.string(), z.unknown()),
                clickWriter: z.record(z.string(), z.unknown()),
              }),
            ),
            ...apiReadErrors(),
          },
        },
      },
      async () => {
        // First: the recording thread's answer also brings its problem counters up to date.
        const clickWriter = (await writer.freshStats()) as unknown as Record<string, unknown>;
        return { geoDb: visitors.geoDb, counters: { ...counters }, clickWriter };
      },
    );
  });
};
