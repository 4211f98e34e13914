// The attribution API under /api: conversion upload, currency rates, and the forwarding log.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { eq } from 'drizzle-orm';
import type { AppContext } from '../context.js';
import { trafficSources } from '../db/schema.js';
import { ApiError, badRequest, notFound } from '../http/errors.js';
import { answer, apiReadErrors, apiWriteErrors } from '../http/answers.js';
import { deleteRate, listRates, RATE_RE, setRate } from './currency.js';
import { csvObjects, CsvError } from './csv.js';
import { listDeliveries, requeueFailedDeliveries } from './deliveries.js';
import { MAX_DELIVERY_ATTEMPTS } from './delivery-policy.js';
import { attributionFor } from './service.js';
import { MAX_UPLOAD_ROWS, uploadConversions } from './upload.js';

const Currency = z
  .string()
  .trim()
  .regex(/^[A-Za-z]{3}$/, 'expected an ISO 4217 code such as EUR')
  .transform((c) => c.toUpperCase());
const Rate = z
  .union([z.string(), z.number()])
  .transform((v) => String(v).trim())
  .refine((v) => RATE_RE.test(v) && /[1-9]/.test(v), 'expected a positive plain decimal such as 1.085')
  .describe('units of ACCOUNT_CURRENCY one unit of the currency is worth');
const RateInfo = z.object({
  currency: z.string(),
  rate: z.string().describe('decimal string: units of ACCOUNT_CURRENCY one unit of the currency is worth'),
  updatedAt: z.date(),
});

// Any JSON value passes here: a cell of the wrong type (true, an object) is that row's error in
// the answer (upload.ts), not a 400 for the whole upload that names no row.
const cell = z.unknown().optional();
const UploadRow = z.looseObject({
  clickId: cell.describe('the click ID (tlcid) the conversion belongs to'),
  payout: cell.describe('decimal payout; absent = the offer payout'),
  txid: cell.describe('transaction ID; another txid on the same click is an upsell'),
  status: cell.describe("approved, pending or declined (or the network's statusMap words); default approved"),
  type: cell.describe('conversion type; default conversion'),
  currency: cell.describe('ISO 4217 currency of the payout; default the offer currency'),
  time: cell.describe('ISO 8601; the postback time, may be in the past'),
});
const UploadAnswer = z.object({
  summary: z.record(z.string(), z.number().int()).describe('how many rows had each outcome'),
  rows: z.array(
    z.object({
      row: z.number().int().describe('0-based index of the row (the first row after a CSV header is 0)'),
      outcome: z
        .string()
        .describe('recorded, duplicate, status_changed, payout_changed, pending (no such click yet: retried), outside_window, or error (see `error`)'),
      conversionId: z.number().int().optional(),
      pendingId: z.number().int().optional(),
      error: z.object({ code: z.string(), message: z.string(), field: z.string().optional() }).optional(),
    }),
  ),
});

const Delivery = z.object({
  id: z.number().int(),
  conversionId: z.number().int(),
  trafficSourceId: z.number().int(),
  url: z.string(),
  state: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  nextAttemptAt: z.date().nullable().describe('when the next attempt is due; null when delivered or given up'),
  lastStatusCode: z.number().int().nullable(),
  lastError: z.string().nullable().describe('why the last attempt failed, e.g. "refused: 127.0.0.1 is a loopback address", "HTTP 404, not retried (check the postback URL)"'),
  log: z
    .array(
      z.object({
        at: z.string(),
        statusCode: z.number().int().optional(),
        error: z.string().optional(),
        event: z
          .literal('requeued')
          .optional()
          .describe('set on the entry a retry (POST /api/postback-deliveries/retry) added, or a status change back to the status this forward reports (sent again, after the forwards queued since); the others are attempts'),
        previousUrl: z.string().optional().describe('on a requeued entry: the URL the attempts before it went to'),
      }),
    )
    .describe('every attempt, and every requeue, oldest first'),
  createdAt: z.date(),
  updatedAt: z.date(),
});

export const attributionApiRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (fastify, { ctx }) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const service = await attributionFor(ctx);
  // Scoped to this plugin: CSV is only meaningful for the upload.
  app.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: 10 * 1024 * 1024 }, (_req, body, done) => done(null, body));

  app.post(
    '/conversions',
    {
      bodyLimit: 10 * 1024 * 1024,
      schema: {
        tags: ['attribution'],
        operationId: 'uploadConversions',
        summary: 'Upload conversions: a JSON array or CSV (text/csv, header clickId,payout,txid,status,type,currency,time)',
        description: 'Each row is recorded like a postback (same duplicates, statuses and currencies); the answer says per row what happened.',
        body: z.union([z.array(UploadRow).describe(`at most ${MAX_UPLOAD_ROWS} rows`), z.string().describe('CSV with a header row')], {
          error: 'expected a JSON array of rows (objects), or CSV (content-type text/csv) with a header row',
        }),
        response: {
          200: answer('What happened to each row; a row that failed does not fail the others.', UploadAnswer),
          ...apiWriteErrors({ 413: 'The body is larger than 10 MiB: split the upload.' }, 413),
        },
      },
    },
    async (req) => {
      let rows: Record<string, unknown>[];
      if (typeof req.body === 'string') {
        try {
          rows = csvObjects(req.body);
        } catch (err) {
          if (err instanceof CsvError) throw badRequest('body', `CSV: ${err.message}`);
          throw err;
        }
      } else rows = req.body;
      if (rows.length > MAX_UPLOAD_ROWS) throw badRequest('body', `at most ${MAX_UPLOAD_ROWS} rows per upload`);
      return uploadConversions(rows, (input) => service.record(input));
    },
  );

  app.get(
    '/currency-rates',
    {
      schema: {
        tags: ['attribution'],
        operationId: 'listCurrencyRates',
        summary: 'List currency rates used to convert payouts to the account currency',
        response: { 200: answer('Every rate set, by currency code.', z.object({ accountCurrency: z.string(), items: z.array(RateInfo) })), ...apiReadErrors() },
      },
    },
    async () => ({ accountCurrency: ctx.config.ACCOUNT_CURRENCY, items: await listRates(ctx.db) }),
  );

  const saveRate = async (currency: string, rate: string) => {
    if (currency === ctx.config.ACCOUNT_CURRENCY) throw badRequest('currency', `${currency} is the account currency; its rate is always 1`);
    const row = await setRate(ctx.db, currency, rate);
    await service.rates.changed();
    return row;
  };
  app.put(
    '/currency-rates/:currency',
    {
      schema: {
        tags: ['attribution'],
        operationId: 'setCurrencyRate',
        summary: 'Set the rate of the currency in the path',
        params: z.object({ currency: Currency.describe('ISO 4217 code, e.g. EUR') }),
        body: z.object({ rate: Rate }),
        response: { 200: answer('The rate as stored.', RateInfo), ...apiWriteErrors() },
      },
    },
    async (req) => saveRate(req.params.currency, req.body.rate),
  );
  app.post(
    '/currency-rates',
    {
      schema: {
        tags: ['attribution'],
        operationId: 'postCurrencyRate',
        summary: 'Set the rate of a currency (the same as PUT /api/currency-rates/{currency})',
        body: z.object({ currency: Currency.describe('ISO 4217 code, e.g. EUR'), rate: Rate }),
        response: { 200: answer('The rate as stored.', RateInfo), ...apiWriteErrors() },
      },
    },
    async (req) => saveRate(req.body.currency, req.body.rate),
  );
  app.delete(
    '/currency-rates/:currency',
    {
      schema: {
        tags: ['attribution'],
        operationId: 'deleteCurrencyRate',
        summary: 'Remove a currency rate',
        description: 'Payouts in that currency are refused afterwards until a rate is set again.',
        params: z.object({ currency: Currency.describe('ISO 4217 code, e.g. EUR') }),
        // z.undefined: no content in the document (a 204 has no body), and send() with no payload.
        response: { 204: z.undefined().describe('Removed.'), ...apiWriteErrors({ 404: 'No rate is set for this currency.' }, 404) },
      },
    },
    async (req, reply) => {
      if (!(await deleteRate(ctx.db, req.params.currency))) throw notFound('currency rate');
      await service.rates.changed();
      return reply.code(204).send();
    },
  );

  app.get(
    '/postback-deliveries',
    {
      schema: {
        tags: ['attribution'],
        operationId: 'listPostbackDeliveries',
        summary: 'Postbacks forwarded to traffic sources, with every attempt, newest first',
        description:
          'A forward is retried with backoff (30 s, 1, 2, 4 ... min; later if the answer has a Retry-After, at most 6 h) after a 5xx, 408 or 429, ' +
          `a timeout or a connection error, for at most ${MAX_DELIVERY_ATTEMPTS} attempts. ` +
          'Any other 4xx (the postback URL is wrong) and a target refused by the private-address guard (a loopback, private, link-local ' +
          'or unspecified address without OUTBOUND_ALLOW_PRIVATE=1, a scheme other than http(s), or a redirect to such a target) ' +
          'fail at once. A failed forward has no nextAttemptAt and is not tried again; lastError says why. ' +
          "The forwards of one conversion are sent in the order they were queued (approved, then declined): one waits while an earlier one is still to be retried.",
        querystring: z.object({
          state: z.enum(['pending', 'delivered', 'failed']).optional().describe('pending: waiting or being retried; failed: given up for good'),
          conversionId: z.coerce.number().int().positive().optional().describe("only this conversion's deliveries"),
          before: z.coerce.number().int().positive().optional().describe('nextCursor of the previous page'),
          limit: z.coerce.number().int().min(1).max(500).default(100).describe('deliveries per page, at most 500'),
        }),
        response: {
          200: answer(
            'One page of forwards.',
            z.object({ items: z.array(Delivery), nextCursor: z.number().int().nullable().describe('give as `before` for the next page; null on the last') }),
          ),
          ...apiReadErrors(),
        },
      },
    },
    async (req) => listDeliveries(ctx.db, req.query),
  );

  app.post(
    '/postback-deliveries/retry',
    {
      schema: {
        tags: ['attribution'],
        operationId: 'retryPostbackDeliveries',
        summary: "Retry failed forwards now, with their URL filled again from the traffic source's current postbackUrl",
        description:
          'For after fixing a traffic source\'s postbackUrl (PATCH /api/traffic-sources/{id}): the failed forwards chosen (every criterion given must ' +
          'hold, at least one is required) go back to pending, due at once (the forwarding worker sends them within POSTBACK_WORKER_MS), with ' +
          'attempts reset and lastError cleared. Their URL is filled again from the current template, as for a new conversion, with the status and ' +
          'payout the forward was queued for. Their log keeps every earlier attempt and gains an entry { event: "requeued", previousUrl }. ' +
          "Skipped (left failed): forwards whose traffic source has no postbackUrl or does not forward that status any more, whose campaign " +
          'stopped forwarding, whose new URL is already queued or sent for the same conversion, or whose conversion has had a later status forwarded since ' +
          '(the traffic source must not hear an approval after the chargeback it was told). Admin keys only.',
        // Strict: a misspelt `trafficSourceID` ignored would retry every failed forward `since` matches.
        body: z
          .strictObject({
            ids: z.array(z.number().int().positive()).min(1).max(1000).optional().describe('these deliveries (ids from GET /api/postback-deliveries), at most 1000'),
            trafficSourceId: z.number().int().positive().max(2_147_483_647).optional().describe("this traffic source's failed forwards"),
            since: z.iso.datetime({ offset: true }).optional().describe('forwards given up at or after this time (ISO 8601 with a zone, e.g. 2026-11-20T00:00:00Z)'),
          })
          // Root-level, so the error names the body: no single field is the missing one.
          .refine((b) => b.ids !== undefined || b.trafficSourceId !== undefined || b.since !== undefined, 'give ids, trafficSourceId or since (an empty selection would retry every failed forward)'),
        response: {
          200: answer(
            'How many forwards were requeued and how many were left failed.',
            z.object({
              requeued: z.number().int().describe('forwards put back to pending'),
              skipped: z.number().int().describe('failed forwards that matched but were left failed (see the description)'),
            }),
          ),
          ...apiWriteErrors({ 404: 'No traffic source has that trafficSourceId.' }, 404),
        },
      },
    },
    async (req) => {
      const { ids, trafficSourceId, since } = req.body;
      // A mistyped id would answer { requeued: 0 }, which reads as "nothing had failed".
      if (trafficSourceId !== undefined) {
        const [known] = await ctx.db.select({ id: trafficSources.id }).from(trafficSources).where(eq(trafficSources.id, trafficSourceId));
        if (!known) throw new ApiError(404, 'not_found', `traffic source ${trafficSourceId} not found`, 'trafficSourceId');
      }
      // Postgres has no year 0, which the ISO format allows (0000-01-01T00:00:00Z): no forward is
      // older than 1970, so an earlier time selects the same rows and never reaches Postgres.
      const from = since === undefined ? undefined : new Date(Math.max(Date.parse(since), 0));
      return requeueFailedDeliveries({ db: ctx.db, accountCurrency: ctx.config.ACCOUNT_CURRENCY, log: req.log }, { ids, trafficSourceId, since: from });
    },
  );
};
