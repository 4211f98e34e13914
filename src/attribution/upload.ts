// Conversion upload (POST /api/conversions): a batch for networks without postbacks and for
// corrections. Each row goes through the same recording as a postback (same dedup, statuses,
// currencies); `time` may be in the past and becomes the conversion's postback time.
import { ApiError } from '../http/errors.js';
import { parsePostbackParams } from './params.js';
import type { ConversionInput, Outcome } from './record.js';

export const MAX_UPLOAD_ROWS = 10_000;
/** A little clock skew is fine; a conversion from tomorrow is a mistake in the file. */
const MAX_FUTURE_MS = 5 * 60_000;

export interface UploadRowResult {
  row: number;
  outcome: Outcome['outcome'] | 'error';
  conversionId?: number;
  pendingId?: number;
  error?: { code: string; message: string; field?: string };
}

/** Header spellings accepted for each column (CSV headers and JSON keys alike). */
const COLUMNS: Record<string, string> = {
  clickid: 'cid',
  cid: 'cid',
  payout: 'payout',
  revenue: 'payout',
  txid: 'txid',
  transactionid: 'txid',
  status: 'status',
  type: 'type',
  currency: 'currency',
  time: 'time',
};

function toParams(row: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(row)) {
    const column = COLUMNS[key.toLowerCase().replace(/[^a-z]/g, '')];
    if (!column || value === undefined || value === null) continue;
    if (typeof value === 'string') out[column] = value;
    else if (typeof value === 'number' && Number.isFinite(value)) out[column] = String(value);
    else throw new ApiError(400, 'invalid_request', `${key} must be a string`, key);
  }
  return out;
}

export async function uploadConversions(
  rows: readonly Record<string, unknown>[],
  record: (input: ConversionInput) => Promise<Outcome>,
  now = () => new Date(),
): Promise<{ summary: Record<string, number>; rows: UploadRowResult[] }> {
  const results: UploadRowResult[] = [];
  const summary: Record<string, number> = {};
  for (let i = 0; i < rows.length; i++) {
    let result: UploadRowResult;
    try {
      const flat = toParams(rows[i]);
      if (!flat.cid) throw new ApiError(400, 'invalid_request', 'clickId is required', 'clickId');
      let convertedAt = now();
      if (flat.time) {
        // ISO 8601 with a date; Date.parse alone would take "5" or "March" too.
        const t = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(flat.time) ? new Date(flat.time) : new Date(NaN);
        if (Number.isNaN(t.getTime())) throw new ApiError(400, 'invalid_request', 'time must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z', 'time');
        if (t.getTime() > convertedAt.getTime() + MAX_FUTURE_MS) throw new ApiError(400, 'invalid_request', 'time is in the future', 'time');
        convertedAt = t;
      }
      const params = parsePostbackParams(flat);
      const out = await record({ params, source: 'upload', convertedAt });
      result = { row: i, outcome: out.outcome };
      if ('conversionId' in out) result.conversionId = out.conversionId;
      if ('pendingId' in out) result.pendingId = out.pendingId;
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const field = err.field === 'cid' ? 'clickId' : err.field;
      result = { row: i, outcome: 'error', error: { code: err.code, message: err.message, ...(field ? { field } : {}) } };
    }
    summary[result.outcome] = (summary[result.outcome] ?? 0) + 1;
    results.push(result);
  }
  return { summary, rows: results };
}
