// /postback (server-to-server, GET or POST form/JSON), /pixel.gif and /pixel.js (cookie
// conversions from the visitor's browser). Thin: parse, record, answer tiny.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.js';
import { ApiError } from '../http/errors.js';
import { errorAnswers } from '../http/answers.js';
import { flattenParams, parsePostbackParams, parseTextBody } from './params.js';
import type { Outcome } from './record.js';
import { attributionFor } from './service.js';

/** Set by /click (src/tracking/click.ts CLICK_COOKIE); the pixel reads it when no click ID is given. */
export const CLICK_COOKIE = 'tlcid';

/** The smallest transparent 1x1 GIF. */
export const PIXEL_GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

/** What the parameters shared by /postback and the pixel mean (the OpenAPI text of both). */
const PARAM_DOCS = {
  cid: 'click ID (also clickid, click_id, subid, cnv_id)',
  payout: 'decimal payout (also sum, revenue, rev, amount); absent = the offer payout',
  txid: 'transaction ID (also tid, tx, transaction_id)',
  type: 'conversion type (also et, ct); default conversion',
  currency: 'ISO 4217 currency of the payout; default the offer currency',
};

// A repeat (`cid=X&cid=X`, a template that appends what it already has) reaches flattenParams,
// which takes identical values and refuses differing ones with a 400 naming the parameter.
const str = (description: string) => z.union([z.string(), z.array(z.string())]).optional().describe(description);
/** Documents the parameters; anything else a network appends is kept as received. */
const PostbackQuery = z.looseObject({
  cid: str(PARAM_DOCS.cid),
  payout: str(PARAM_DOCS.payout),
  txid: str(PARAM_DOCS.txid),
  status: str('approved/sale/confirmed/paid/success/completed, pending/lead/hold, declined/rejected/reversed/chargeback/refund/cancelled/fraud/trash/invalid, or the network statusMap words'),
  type: str(PARAM_DOCS.type),
  currency: str(PARAM_DOCS.currency),
  secret: str('the affiliate network postback secret (or header x-tracklane-secret)'),
});

const PostbackAnswer = z.object({
  status: z.literal('ok'),
  outcome: z.enum(['recorded', 'duplicate', 'status_changed', 'payout_changed', 'pending', 'outside_window', 'queued']),
  conversionId: z.number().int().optional(),
  pendingId: z.number().int().optional(),
  conversionStatus: z.enum(['approved', 'pending', 'declined']).optional(),
});

function answerBody(out: Outcome): z.infer<typeof PostbackAnswer> {
  switch (out.outcome) {
    case 'pending':
      return { status: 'ok', outcome: 'pending', pendingId: out.pendingId };
    case 'outside_window':
    case 'queued':
      return { status: 'ok', outcome: out.outcome };
    default:
      return { status: 'ok', outcome: out.outcome, conversionId: out.conversionId, conversionStatus: out.status };
  }
}

/** Loosely typed: the pixel handlers return the reply they sent, which a typed answer would refuse. */
const docOnly = (answers: Record<number, unknown>) => answers;

const wantsJson = (req: FastifyRequest) => (req.headers.accept ?? '').includes('application/json');

export const attributionRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (fastify, { ctx }) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const service = await attributionFor(ctx);

  // Some networks' HTTP clients label a form or a JSON object text/plain (this plugin's routes only).
  fastify.removeContentTypeParser('text/plain');
  fastify.addContentTypeParser('text/plain', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseTextBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  const postback = async (req: FastifyRequest, reply: FastifyReply) => {
    const params = parsePostbackParams(flattenParams(req.query, req.method === 'POST' ? req.body : undefined));
    const header = req.headers['x-tracklane-secret'];
    if (typeof header === 'string' && header !== '' && params.secret === undefined) params.secret = header;
    const out = await service.record({ params, source: 'postback', convertedAt: new Date(), sourceIp: req.ip });
    // Networks retry on errors, so a duplicate is a 200 too; the outcome says what happened.
    if (out.outcome !== 'recorded') req.log.info({ clickId: params.clickId, type: params.type, txid: params.txid, ...answerBody(out) }, 'postback not recorded as new');
    if (wantsJson(req)) return reply.send(answerBody(out));
    return reply.type('text/plain; charset=utf-8').send('OK');
  };
  const postbackSchema = {
    tags: ['attribution'],
    summary: 'Record a conversion reported by an affiliate network',
    description:
      'Answers `OK` (text), or JSON with the outcome when the request accepts application/json. Duplicates answer 200 with outcome `duplicate`. ' +
      'Parameter names are read in any case. A macro the network left unfilled (`{payout}`, `{{x}}`, `%x%`, `[x]`, `#x#`, `__X__`, `${X}`) in payout, txid, status, type or currency counts as absent; in the click ID it is kept (the postback ends unattributed). ' +
      'POST takes a form, JSON, text/plain holding either, or no body. HEAD answers 200 and records nothing.',
    querystring: PostbackQuery,
    // No API key: the affiliate network's server calls it (the network's secret, if set, is a parameter).
    security: [],
    response: {
      // Not the content form: the JSON answer keeps its direct serializer (no media-type lookup per postback).
      200: PostbackAnswer.describe('With Accept: application/json, the outcome; otherwise the text `OK`.'),
      ...errorAnswers([400, 403, 503], {
        400: 'A parameter is malformed (payout, currency, status, a repeated parameter with different values): `field` names it. No click ID is a 400 too.',
        403: "Wrong or missing postback secret, or a source address outside the affiliate network's allowedIps.",
        503: 'Neither the database nor the disk could take it: send it again after the Retry-After header (seconds).',
      }),
    },
  };
  app.get('/postback', { schema: { ...postbackSchema, operationId: 'recordPostback' }, exposeHeadRoute: false }, postback);
  // Uptime checkers and link checkers probe with HEAD: the endpoint is up, and nothing is recorded
  // (HEAD must not change anything; the network's real call is a GET or POST).
  app.head('/postback', { schema: { hide: true } }, async (_req, reply) => reply.type('text/plain; charset=utf-8').send());
  // JSON bodies may carry numbers (payout: 12.5); flattenParams turns them into exact strings.
  const plain = z.union([z.string(), z.number(), z.boolean(), z.null()]);
  // A repeated form field arrives as an array, as in the query string.
  const scalar = z.union([plain, z.array(plain)]).optional();
  const PostbackBody = z.looseObject(
    Object.fromEntries(Object.entries(PostbackQuery.shape).map(([k, field]) => [k, scalar.describe(field.description ?? k)])),
  );
  // No body at all (a POST with every parameter in the query string) is null, not undefined.
  app.post('/postback', { schema: { ...postbackSchema, operationId: 'recordPostbackPost', body: PostbackBody.nullish() } }, postback);

  // The pixel never fails the page it sits on: whatever happens, a GIF (or a script) comes back.
  const pixel = async (req: FastifyRequest) => {
    // A HEAD (a link checker, a mail client's prefetch) fetches nothing and must record nothing.
    if (req.method === 'HEAD') return;
    try {
      const flat = flattenParams(req.query);
      const params = parsePostbackParams(flat);
      params.clickId ??= (req.cookies?.[CLICK_COOKIE] ?? '').slice(0, 128) || undefined;
      if (!params.clickId) {
        req.log.info('pixel without a click ID or cookie');
        return;
      }
      const out = await service.record({ params, source: 'pixel', convertedAt: new Date(), sourceIp: req.ip, enforceWindow: true });
      if (out.outcome !== 'recorded') req.log.info({ clickId: params.clickId, ...answerBody(out) }, 'pixel not recorded as new');
    } catch (err) {
      if (err instanceof ApiError) req.log.info({ reason: err.message, field: err.field }, 'pixel conversion refused');
      else {
        service.stats.pixelErrors++;
        req.log.error({ err }, 'pixel conversion failed');
      }
    }
  };
  // Documents the parameters the pixel reads; it accepts any query (anything is a GIF), as a record would.
  const pixelParam = (description: string) => z.unknown().optional().describe(description);
  const PixelQuery = z.looseObject({
    cid: pixelParam(`${PARAM_DOCS.cid}; absent = the tlcid cookie set by /click`),
    payout: pixelParam(PARAM_DOCS.payout),
    txid: pixelParam(PARAM_DOCS.txid),
    status: pixelParam('status of a new conversion, as for /postback (default approved); an existing one keeps its status'),
    type: pixelParam(PARAM_DOCS.type),
    currency: pixelParam(PARAM_DOCS.currency),
  });
  app.get(
    '/pixel.gif',
    {
      schema: {
        tags: ['attribution'],
        operationId: 'pixelGif',
        security: [],
        summary: 'Cookie conversion: a 1x1 GIF; the click ID comes from the tlcid cookie when not given',
        description: 'For offer pages: <img src="PUBLIC_URL/pixel.gif?payout=..."> fires from the visitor\'s browser. It may add a conversion, never change the status of one that exists (a repeat is a duplicate). Always answers the GIF, whatever happened.',
        querystring: PixelQuery,
        response: docOnly({ 200: { description: 'A 1x1 transparent GIF, whatever happened.', content: { 'image/gif': { schema: z.string().meta({ format: 'binary' }) } } } }),
      },
    },
    async (req, reply) => {
      await pixel(req);
      return reply.header('cache-control', 'no-store, max-age=0').type('image/gif').send(PIXEL_GIF);
    },
  );
  app.get(
    '/pixel.js',
    {
      schema: {
        tags: ['attribution'],
        operationId: 'pixelScript',
        security: [],
        summary: 'Cookie conversion for pages that prefer a script tag',
        querystring: PixelQuery,
        response: docOnly({ 200: { description: 'An empty script, whatever happened.', content: { 'application/javascript': { schema: z.string() } } } }),
      },
    },
    async (req, reply) => {
      await pixel(req);
      return reply.header('cache-control', 'no-store, max-age=0').type('application/javascript; charset=utf-8').send('/* tracklane */\n');
    },
  );
};
