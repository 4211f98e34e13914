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

const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * An upload's `time`: ISO 8601 with a date; undefined when it is not one. Checked field by field:
 * Date alone takes "5" or "March", and rolls 2026-02-30 over to March 2 (a wrong day in the
 * reports, silently). A time without a zone is UTC, as a date alone is, whatever the server's TZ.
 */
export function parseUploadTime(value: string): Date | undefined {
  const m = TIME_RE.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '00', mi = '00', sec = '00', frac = '', zone = 'Z'] = m;
  const year = Number(y);
  const month = Number(mo);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || Number(d) < 1 || Number(d) > daysInMonth || Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59) return undefined;
  const offset = zone.toUpperCase() === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(-2)}`;
  const t = new Date(`${y}-${mo}-${d}T${h}:${mi}:${sec}${frac.slice(0, 4)}${offset}`);
  return Number.isNaN(t.getTime()) ? undefined : t;
}

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
        const t = parseUploadTime(flat.time);
        if (!t) throw new ApiError(400, 'invalid_request', `time "${flat.time.slice(0, 40)}" is not a valid ISO 8601 date-time such as 2026-01-31T12:00:00Z`, 'time');
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
