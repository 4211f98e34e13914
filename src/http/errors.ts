// One error type and one JSON shape for the whole API: { "error": { "code", "message", "field"? } }.
import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { errorMessage, isUnavailable } from '../db/errors.js';

export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toJSON(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) } };
  }
}

export const badRequest = (field: string | undefined, message: string) =>
  new ApiError(400, 'invalid_request', message, field);
export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);
export const unauthorized = () => new ApiError(401, 'unauthorized', 'a valid API key is required (header api-key or Authorization: Bearer)');
export const forbidden = (message: string) => new ApiError(403, 'forbidden', message);
export const preconditionFailed = (message: string) => new ApiError(412, 'precondition_failed', message);
export const conflict = (message: string, field?: string) => new ApiError(409, 'conflict', message, field);

/** `["flow","paths",0,"offers",1,"id"]` -> `flow.paths[0].offers[1].id` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: { keys?: unknown };
}

/** `/flow/paths/0/offers/1/id` (JSON pointer, as the validators report it) -> path segments. */
const pointerToPath = (pointer: string): PropertyKey[] =>
  pointer
    .split('/')
    .filter(Boolean)
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~')));

function validationError(err: FastifyError & { validation: ValidationIssue[]; validationContext?: string }): ApiError {
  const first = err.validation[0] ?? {};
  const path = pointerToPath(first.instancePath ?? '');
  // A strict object reports an unknown key at the object's path; name the key itself.
  const keys = first.keyword === 'unrecognized_keys' ? first.params?.keys : undefined;
  if (Array.isArray(keys) && typeof keys[0] === 'string') path.push(keys[0]);
  const field = formatPath(path) || err.validationContext || undefined;
  const message = first.message ?? 'invalid input';
  return badRequest(field, field ? `${field}: ${message}` : message);
}

/** Fastify's own 4xx (a body it cannot parse, too large, of an unknown type) in the API's words, not FST_ERR_*. */
const FASTIFY_CLIENT_CODES: Record<number, string> = { 400: 'invalid_request', 413: 'payload_too_large', 415: 'unsupported_media_type' };
function clientErrorCode(err: FastifyError): string {
  if (!err.code || err.code.startsWith('FST_')) return FASTIFY_CLIENT_CODES[err.statusCode!] ?? 'invalid_request';
  return err.code.toLowerCase();
}

/**
 * application/json as Fastify parses it (with its prototype-poisoning guard), except that an empty
 * body is no body: clients that send the header on every call (DELETE, a clone without options)
 * mean exactly that, and Fastify would refuse them with FST_ERR_CTP_EMPTY_JSON_BODY.
 */
export function acceptEmptyJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (body === '') return done(null, undefined);
    parseJson(req, body as string, done);
  });
}

/** A file-system error that says the disk is full or not writable (a spill file, the embedded database). */
function diskError(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (e.code === 'ENOSPC' || e.code === 'EDQUOT' || e.code === 'EROFS') return e.code;
  }
  return undefined;
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    let apiError: ApiError;
    // The route's pattern, never the URL: a postback's query string holds its secret.
    const where = () => ({ method: req.method, route: req.routeOptions.url });
    if (err instanceof ApiError) apiError = err;
    else if (hasZodFastifySchemaValidationErrors(err)) apiError = validationError(err as never);
    else if (err.validation) apiError = validationError(err as never);
    else if (isResponseSerializationError(err)) {
      req.log.error({ err, issues: err.cause?.issues, ...where() }, 'response did not match its schema');
      apiError = new ApiError(500, 'internal_error', 'internal error');
    } else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      apiError = new ApiError(err.statusCode, clientErrorCode(err), err.message);
    } else if (isUnavailable(err)) {
      // Not the request's fault and not for good: the caller should send it again a little later.
      req.log.warn({ err: errorMessage(err), ...where() }, 'Postgres is unavailable');
      apiError = new ApiError(503, 'unavailable', 'the database is unavailable; try again shortly');
      void reply.header('retry-after', '5');
    } else if (diskError(err)) {
      // An operator's problem (free the disk), not the caller's, and gone once fixed: a network retries a 503.
      req.log.error({ err, ...where() }, 'cannot write to disk: it is full or read-only');
      apiError = new ApiError(503, 'unavailable', `the tracker cannot write to its disk (${diskError(err)}); try again shortly`);
      void reply.header('retry-after', '30');
    } else {
      req.log.error({ err, ...where() }, 'unhandled error');
      apiError = new ApiError(500, 'internal_error', `internal error (request ${req.id}; the tracker's log has the details)`);
    }
    // The id every log line of this request carries, so an answer someone reports can be found in the log.
    if (apiError.statusCode >= 500) void reply.header('x-request-id', req.id);
    void reply.code(apiError.statusCode).type('application/json; charset=utf-8').send(apiError.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(new ApiError(404, 'not_found', `no route for ${req.method} ${req.url.split('?')[0]}`).toJSON());
  });
}
