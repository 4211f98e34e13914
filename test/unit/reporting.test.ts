import { describe, expect, it } from 'vitest';
import { planBuckets } from '../../src/reporting/bucket-plan.js';
import { csvField, csvLine, parseCsv } from '../../src/reporting/csv.js';
import { decodeCursor, encodeCursor } from '../../src/reporting/raw-logs.js';
import { checkSort, dayAfter, parseFilters, parseGroupBy, parseTimePoint, rollupSetFor } from '../../src/reporting/report-spec.js';

const H = 3_600_000;
const D = 24 * H;
const Q = 15 * 60_000;

describe('bucket plan', () => {
  it('reads whole UTC days from the daily rollup and the edges at finer grains', () => {
    const from = Date.UTC(2024, 2, 9, 18, 15); // Kathmandu midnight
    const to = from + 3 * D;
    const plan = planBuckets(from, to, () => true, () => true);
    expect(plan).toEqual([
      { grain: 15, start: from, end: from + 3 * Q },
      { grain: 60, start: from + 3 * Q, end: Date.UTC(2024, 2, 10) },
      { grain: 1440, start: Date.UTC(2024, 2, 10), end: Date.UTC(2024, 2, 12) },
      { grain: 60, start: Date.UTC(2024, 2, 12), end: Date.UTC(2024, 2, 12, 18) },
      { grain: 15, start: Date.UTC(2024, 2, 12, 18), end: to },
    ]);
    // covers the range exactly, without gaps or overlaps
    const covered = plan.reduce((s, i) => s + (i.end - i.start), 0);
    expect(covered).toBe(to - from);
  });

  it('falls back to quarter hours where a coarse bucket would straddle a local boundary', () => {
    const from = Date.UTC(2024, 2, 10);
    const plan = planBuckets(from, from + D, () => false, (h) => h !== Date.UTC(2024, 2, 10, 18));
    expect(plan).toEqual([
      { grain: 60, start: from, end: Date.UTC(2024, 2, 10, 18) },
      { grain: 15, start: Date.UTC(2024, 2, 10, 18), end: Date.UTC(2024, 2, 10, 19) },
      { grain: 60, start: Date.UTC(2024, 2, 10, 19), end: from + D },
    ]);
  });
});

describe('report parameters', () => {
  it('parses groupBy and rejects unknown dimensions naming groupBy', () => {
    expect(parseGroupBy('campaign, day,var:sub1,campaign')).toEqual(['campaign', 'day', 'var:sub1']);
    expect(parseGroupBy(undefined)).toEqual([]);
    expect(() => parseGroupBy('campaign,planet')).toThrow(expect.objectContaining({ field: 'groupBy' }));
    expect(() => parseGroupBy('var:a b')).toThrow(expect.objectContaining({ field: 'groupBy' }));
  });

  it('parses dates, local and absolute date-times, and rejects impossible ones', () => {
    expect(parseTimePoint('from', '2024-02-29')).toEqual({ kind: 'date', date: '2024-02-29' });
    expect(parseTimePoint('from', '2024-03-10T02:30')).toEqual({ kind: 'local', local: '2024-03-10T02:30:00' });
    expect(parseTimePoint('to', '2024-03-10T02:30:00+05:45')).toEqual({ kind: 'instant', iso: '2024-03-10T02:30:00+05:45' });
    for (const bad of ['2023-02-29', '2024-13-01', 'yesterday', '2024-03-10T24:00', '']) {
      expect(() => parseTimePoint('from', bad), bad).toThrow(expect.objectContaining({ field: 'from' }));
    }
    expect(dayAfter('2024-12-31')).toBe('2025-01-01T00:00:00');
    // Offsets Postgres refuses and a `to` day that would end in year 10000 are the date's fault, named so.
    for (const bad of ['2024-03-10T02:30:00+99:00', '2024-03-10T02:30:00-16:00', '2024-03-10T02:30:00+05:60', '9999-12-31']) {
      expect(() => parseTimePoint('to', bad), bad).toThrow(expect.objectContaining({ field: 'to' }));
    }
    expect(parseTimePoint('from', '2024-03-10T02:30:00-1200')).toEqual({ kind: 'instant', iso: '2024-03-10T02:30:00-1200' });
  });

  it('chooses the rollup set that holds every dimension and filter, or raw rows', () => {
    const none = parseFilters({});
    expect(rollupSetFor(['campaign', 'day', 'country'], none)).toBe(0);
    expect(rollupSetFor(['offer', 'country', 'hour'], none)).toBe(1);
    expect(rollupSetFor(['device', 'hour'], none)).toBe(2);
    expect(rollupSetFor(['offer', 'device'], none)).toBeNull();
    // One visitor dimension per rollup row: two of them together come from raw rows.
    expect(rollupSetFor(['device', 'os'], none)).toBeNull();
    expect(rollupSetFor(['campaign'], parseFilters({ browser: 'Chrome' }))).toBe(4);
    expect(rollupSetFor(['language', 'country'], parseFilters({ campaign: '3' }))).toBe(5);
    expect(rollupSetFor(['campaign'], parseFilters({ 'var:sub1': 'a' }))).toBeNull();
    expect(rollupSetFor(['externalId'], none)).toBeNull();
    // The ad network's ids are not in the rollups: filtering on them reads raw rows.
    expect(rollupSetFor(['campaign'], parseFilters({ adset: 'as_1' }))).toBeNull();
    expect(rollupSetFor(['campaign'], parseFilters({ language: 'EN' }))).toBe(5);
  });

  it('keeps language filters lower-case and ad network ids exactly as given', () => {
    const f = parseFilters({ language: 'EN, pt', adset: 'AS_1,as 2', ad: 'x', placement: 'Feed', externalId: 'IwAR1' });
    expect(f.texts).toEqual({ language: ['en', 'pt'] });
    expect(f.raws).toEqual({ adset: ['AS_1', 'as 2'], ad: ['x'], placement: ['Feed'], externalId: ['IwAR1'] });
    expect(parseFilters({}).raws).toEqual({});
  });

  it('checks filters and sort', () => {
    expect(parseFilters({ campaign: '1,2', country: 'us,np' })).toMatchObject({ ids: { campaign: [1, 2] }, texts: { country: ['US', 'NP'] } });
    // Visits store device, OS and browser lower-case: a filter as the user writes it must match.
    expect(parseFilters({ device: 'Mobile', os: 'iOS,Android', browser: 'Chrome' }).texts).toEqual({ device: ['mobile'], os: ['ios', 'android'], browser: ['chrome'] });
    expect(() => parseFilters({ offer: '1,x' })).toThrow(expect.objectContaining({ field: 'offer' }));
    expect(checkSort('campaignName', ['campaign'])).toBe('campaignName');
    expect(checkSort('roi', [])).toBe('roi');
    expect(() => checkSort('country', ['day'])).toThrow(expect.objectContaining({ field: 'sort' }));
  });
});

describe('csv and cursors', () => {
  it('quotes, neutralises formulas in text, keeps negative money', () => {
    expect(csvLine(['a,b', 'say "hi"', null, 3, '-1.500000', '=HYPERLINK("x")'])).toBe('"a,b","say ""hi""",,3,-1.500000,"\'=HYPERLINK(""x"")"\r\n');
    expect(parseCsv(csvLine(['a,b', 'line\nbreak', '']) + csvLine(['x']))).toEqual([['a,b', 'line\nbreak', ''], ['x']]);
    expect(csvField({ a: 1 })).toBe('"{""a"":1}"');
  });

  it('round-trips cursors and rejects forged ones naming cursor', () => {
    const c = encodeCursor('2024-03-10T18:20:00.123456Z', 'abc');
    expect(decodeCursor(c)).toEqual({ time: '2024-03-10T18:20:00.123456Z', id: 'abc' });
    expect(() => decodeCursor(Buffer.from("x|1'; drop").toString('base64url'))).toThrow(expect.objectContaining({ field: 'cursor' }));
    // Well-formed but impossible: a time that is no instant, or an id a bigint-keyed log cannot hold.
    const forged = (text: string) => Buffer.from(text).toString('base64url');
    for (const bad of ['2024-13-45T18:20:00.123456Z|7', '2024-02-30T18:20:00.123456Z|7', '2024-03-10T25:20:00.123456Z|7']) {
      expect(() => decodeCursor(forged(bad), 'conversions'), bad).toThrow(expect.objectContaining({ field: 'cursor' }));
    }
    expect(() => decodeCursor(forged('2024-03-10T18:20:00.123456Z|abc'), 'conversions')).toThrow(expect.objectContaining({ field: 'cursor' }));
    expect(() => decodeCursor(forged('2024-03-10T18:20:00.123456Z|99999999999999999999'), 'pendingPostbacks')).toThrow(expect.objectContaining({ field: 'cursor' }));
    expect(decodeCursor(forged('2024-03-10T18:20:00.123456Z|abc'), 'clicks')).toEqual({ time: '2024-03-10T18:20:00.123456Z', id: 'abc' });
    expect(decodeCursor(forged('2024-03-10T18:20:00.123456Z|42'), 'conversions')).toEqual({ time: '2024-03-10T18:20:00.123456Z', id: '42' });
  });
});
