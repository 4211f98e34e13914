// The benchmark's arithmetic: a wrong percentile or CPU figure would make every claim in the
// README's benchmark table wrong, so the pure helpers are checked here.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cpuPercent,
  formatTable,
  median,
  parseProcStatCpuTicks,
  parseProcStatTotals,
  parseScale,
  parseVmHwmKb,
  percentile,
  ratio,
  scaled,
  summarizeLatency,
} from '../../bench/lib/stats.js';
import { clickHeaders, clickPath, clientIp, planRequest } from '../../bench/lib/traffic.js';
import { parseWrkSummary, pickGenerator, wrkScript } from '../../bench/lib/wrk.js';

describe('bench statistics', () => {
  it('takes nearest-rank percentiles: a sample that was actually observed', () => {
    const s = Float64Array.from({ length: 1000 }, (_, i) => i + 1);
    expect(percentile(s, 50)).toBe(500);
    expect(percentile(s, 99)).toBe(990);
    expect(percentile(s, 99.9)).toBe(999);
    expect(percentile(s, 100)).toBe(1000);
    expect(percentile([7], 99.9)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('summarizes unsorted latencies', () => {
    const sum = summarizeLatency([5, 1, 3, 2, 4]);
    expect(sum).toMatchObject({ p50: 3, max: 5, count: 5, mean: 3 });
  });

  it('percentiles are monotonic and within the samples, whatever the data', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1e4, noNaN: true }), { minLength: 1, maxLength: 300 }), (xs) => {
        const s = summarizeLatency(xs);
        expect(s.p50).toBeLessThanOrEqual(s.p99);
        expect(s.p99).toBeLessThanOrEqual(s.p999);
        expect(s.p999).toBeLessThanOrEqual(s.max);
        expect(xs).toContain(s.p99);
      }),
    );
  });

  it('medians odd and even lists and never divides by zero', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(ratio(1, 0)).toBeNull();
    expect(ratio(Number.NaN, 1)).toBeNull();
    expect(ratio(3, 4)).toBe(0.75);
  });

  it('parses BENCH_SCALE and rejects nonsense with the variable named', () => {
    expect(parseScale(undefined)).toBe(1);
    expect(parseScale('0.05')).toBe(0.05);
    for (const bad of ['0', '-1', 'abc', '11', 'Infinity']) expect(() => parseScale(bad)).toThrow(/BENCH_SCALE/);
    expect(scaled(10_000_000, 0.05)).toBe(500_000);
    expect(scaled(200_000, 0.00001, 20)).toBe(20);
  });

  it('reads CPU ticks and peak RSS from /proc formats, including a command name with spaces', () => {
    const stat = '1234 (node my (app)) S 1 1234 1234 0 -1 4194560 5000 0 0 0 750 125 0 0 20 0 11 0 100 1000000 5000';
    expect(parseProcStatCpuTicks(stat)).toBe(875);
    expect(parseVmHwmKb('Name:\tnode\nVmPeak:\t  900 kB\nVmHWM:\t   123456 kB\nVmRSS:\t 1000 kB\n')).toBe(123456);
    expect(parseVmHwmKb('Name:\tnode\n')).toBeNull();
    expect(cpuPercent(500_000, 1000)).toBe(50);
    expect(cpuPercent(1, 0)).toBeNull();
  });

  it('reads this very process from /proc the same way', async () => {
    const { readFileSync } = await import('node:fs');
    expect(parseProcStatCpuTicks(readFileSync('/proc/self/stat', 'utf8'))).toBeGreaterThan(0);
    expect(parseVmHwmKb(readFileSync('/proc/self/status', 'utf8'))).toBeGreaterThan(1000);
  });

  it('prints a Markdown table with a dash for missing values', () => {
    const t = formatTable(['load', 'req/s'], [['tracker', 1234.5], ['baseline', null]]);
    expect(t.split('\n')).toEqual(['| load     |   req/s |', '|----------|--------:|', '| tracker  | 1,234.5 |', '| baseline |       - |']);
  });
});

describe('bench traffic', () => {
  it('rotates user agents and client IPs and sends the traffic-source params', () => {
    const uas = new Set(Array.from({ length: 24 }, (_, i) => clickHeaders(i)['user-agent']));
    expect(uas.size).toBeGreaterThanOrEqual(10);
    const ips = new Set(Array.from({ length: 1000 }, (_, i) => clientIp(i)));
    expect(ips.size).toBe(1000);
    for (const ip of ips) expect(ip).toMatch(/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/);
    const u = new URL(`http://127.0.0.1${clickPath('abc', 5)}`);
    expect(u.pathname).toBe('/click/abc');
    expect([...u.searchParams.keys()]).toEqual(['campaign_id', 'adset_id', 'ad_id', 'placement', 'site_source_name', 'fbclid']);
  });

  it('uses each click ID once per postback and a distinct txid per request', () => {
    const plan = { kind: 'postback' as const, clickIds: ['a1', 'b2', 'c3'] };
    const reqs = [0, 1, 2].map((i) => new URL(`http://x${planRequest(plan, i).path}`).searchParams);
    expect(reqs.map((q) => q.get('cid'))).toEqual(['a1', 'b2', 'c3']);
    expect(new Set(reqs.map((q) => q.get('txid'))).size).toBe(3);
    for (const q of reqs) expect(Number(q.get('payout'))).toBeGreaterThan(0);
  });
});

describe('machine CPU from /proc/stat', () => {
  it('counts idle and iowait as not busy, and steal as busy but apart', () => {
    const stat = 'cpu  100 5 50 800 20 0 5 30 0 0\ncpu0 50 2 25 400 10 0 2 15 0 0\n';
    expect(parseProcStatTotals(stat)).toEqual({ busy: 190, total: 1010, steal: 30 });
    expect(() => parseProcStatTotals('nonsense')).toThrow(/proc\/stat/);
  });
});

describe('wrk as the load generator', () => {
  it('sends exactly the amount asked, numbered from the offset, for the campaign key asked', () => {
    const lua = wrkScript({ kind: 'click', key: 'a b/c' }, 1234, 500, null);
    expect(lua).toContain('local amount, offset = 1234, 500');
    expect(lua).toContain('"/click/a%20b%2Fc?"');
    // Past the amount a connection is parked, never sent another real request.
    expect(lua).toMatch(/if sent >= amount then return "" end/);
    const pb = wrkScript({ kind: 'postback', clickIds: ['x'] }, 10, 0, '/tmp/ids.txt');
    expect(pb).toContain('io.lines("/tmp/ids.txt")');
    expect(pb).toContain('"&txid=bench-" .. i');
  });

  it("reads the summary line the script's done() prints, latencies in microseconds", () => {
    const out = 'Running 60s test\ntracklane-wrk: all answered\ntracklane-wrk-json: {"requests":100,"durationUs":2000000,"statuses":{"302":99,"500":1},"errors":0,"timeouts":0,"p50":1200.5,"p99":4000,"p999":9000,"max":12000,"mean":1500}\n';
    expect(parseWrkSummary(out)).toMatchObject({ requests: 100, statuses: { '302': 99, '500': 1 }, p99: 4000 });
    expect(parseWrkSummary('Running 60s test\n')).toBeNull();
  });

  it('takes BENCH_GENERATOR when set and refuses anything else', () => {
    expect(pickGenerator('autocannon')).toBe('autocannon');
    expect(pickGenerator('wrk')).toBe('wrk');
    expect(['wrk', 'autocannon']).toContain(pickGenerator(undefined));
    expect(() => pickGenerator('ab')).toThrow(/BENCH_GENERATOR/);
  });
});
