// How the routes' answers read in /openapi.json: a described success answer, and the error answers
// (the one `{ error: { code, message, field? } }` shape of src/http/errors.ts) a route can give, so
// a generated client has a type and a description for each. These also serialize the answers:
// the error shape must stay exactly ApiError.toJSON() (errors.ts).
import { z } from 'zod';

export const ErrorOut = z.object({
  error: z.object({
    code: z
      .string()
      .describe('machine-readable: invalid_request, unauthorized, forbidden, not_found, conflict, precondition_failed, payload_too_large, unsupported_media_type, unavailable'),
    message: z.string().describe('what is wrong, for people'),
    field: z.string().optional().describe('the input at fault, as a path such as `flow.paths[0].offers[1].id` or a query parameter name'),
  }),
});

const ERROR_TEXT = {
  400: 'Invalid input: `field` names the parameter or body field at fault.',
  401: 'No valid API key: send header `api-key: KEY` or `Authorization: Bearer KEY`.',
  403: 'Refused: this API key is read-only (writes and /api/api-keys need an admin key).',
  404: 'Not found.',
  409: 'Conflicts with existing data (a key already used).',
  412: 'If-Match does not match the current ETag: someone changed it since you read it; reload and retry.',
  413: 'The body is too large.',
  503: 'The database is unavailable (or the disk is full): retry after the Retry-After header (seconds).',
} as const;
export type ErrorStatus = keyof typeof ERROR_TEXT;

/** An answer with a description for people and a JSON schema (content form: the description reaches /docs). */
export function answer<T extends z.ZodType>(description: string, schema: T) {
  return { description, content: { 'application/json': { schema } } };
}

/** Error answers for these statuses; `texts` says more than the default for a route (what was not found). */
export function errorAnswers<S extends ErrorStatus>(statuses: readonly S[], texts: Partial<Record<ErrorStatus, string>> = {}) {
  return Object.fromEntries(statuses.map((s) => [s, answer(texts[s] ?? ERROR_TEXT[s], ErrorOut)])) as Record<S, ReturnType<typeof answer<typeof ErrorOut>>>;
}

/**
 * What any /api route may answer besides its own: bad input (a NUL in any parameter is refused on
 * every route), no key, and Postgres away (the key check reads it). Writes add 403 (read-only key).
 */
export const apiReadErrors = (texts: Partial<Record<ErrorStatus, string>> = {}, ...more: ErrorStatus[]) => errorAnswers([400, 401, 503, ...more], texts);
export const apiWriteErrors = (texts: Partial<Record<ErrorStatus, string>> = {}, ...more: ErrorStatus[]) => errorAnswers([400, 401, 403, 503, ...more], texts);
