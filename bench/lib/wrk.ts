// wrk as the closed-loop load generator when it is installed (Debian: `apt-get install wrk`).
// Why: these machines have 2 cores and autocannon spends ~40 µs of CPU per request building and
// parsing HTTP in JavaScript, more than the bare-Fastify baseline spends answering it; that core
// is then missing from both sides, and most from the side that needs Postgres and Redis too. wrk
// (C, one thread) spends a few µs. The traffic is the same plan as bench/lib/traffic.ts, built per
// request by a Lua script: rotating user agents, client IPs, languages, referrers and params.
//
// wrk runs for a duration, not a request count; the count matters here (every answered request
// must match a row afterwards), so the script sends exactly `amount` requests, then parks each
// connection (an empty request writes nothing), and says so on stdout once the last answer is in.
// The parent then stops wrk with SIGINT, which makes it print its summary at once.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ClosedLoopJob, LoadResult } from '../load-worker.js';
import { processCpuMicros } from './procs.js';
import { USER_AGENTS, LANGUAGES, PLACEMENTS, FIRST_OCTETS, type TrafficPlan } from './traffic.js';

const luaList = (xs: readonly (string | number)[]) => `{${xs.map((x) => (typeof x === 'number' ? String(x) : JSON.stringify(x))).join(',')}}`;

/**
 * The Lua script for one job. Request numbering, IPs and params follow traffic.ts (clientIp's
 * multiply-and-wrap is done in two 16-bit halves because Lua numbers are doubles); fbclid is
 * hex here instead of base 36, which is all that differs.
 */
export function wrkScript(plan: TrafficPlan, amount: number, offset: number, idsFile: string | null): string {
  const common = `
local amount, offset = ${amount}, ${offset}
local sent, answered, primed = 0, 0, false
statuses = {}
-- wrk 4.1 calls request() once per thread before it connects and never sends that request, so
-- the first call must not use up a number. Its path would answer 404 if a later wrk sent it,
-- which then shows in the statuses instead of silently shifting the count.
local function primer()
  primed = true
  return wrk.format("GET", "/tracklane-wrk-primer")
end
local function mulmod32(a, b)
  local hi, lo = math.floor(b / 65536), b % 65536
  return ((a * hi % 65536) * 65536 + a * lo) % 4294967296
end
function response(status, headers, body)
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if answered == amount then
    io.stdout:write("tracklane-wrk: all answered\\n")
    io.stdout:flush()
  end
end
`;
  if (plan.kind === 'click') {
    return `${common}
local uas = ${luaList(USER_AGENTS)}
local langs = ${luaList(LANGUAGES)}
local placements = ${luaList(PLACEMENTS)}
local octets = ${luaList(FIRST_OCTETS)}
local prefix = "/click/${encodeURIComponent(plan.key)}?"
local headers = {}
function request()
  if not primed then return primer() end
  if sent >= amount then return "" end
  local i = offset + sent
  sent = sent + 1
  local x = mulmod32(i + 1, 2654435761) % 16777216
  local last = x % 256
  if last == 0 then last = 1 end
  headers["User-Agent"] = uas[i % #uas + 1]
  headers["X-Forwarded-For"] = octets[i % #octets + 1] .. "." .. math.floor(x / 65536) % 256 .. "." .. math.floor(x / 256) % 256 .. "." .. last
  headers["Accept-Language"] = langs[i % #langs + 1]
  headers["Referer"] = (i % 4 ~= 0) and "https://m.facebook.com/" or "https://www.instagram.com/"
  local q = "campaign_id=" .. (23850000000 + i % 7) .. "&adset_id=" .. (23851000000 + i % 31) ..
    "&ad_id=" .. (23852000000 + i % 97) .. "&placement=" .. placements[i % #placements + 1] ..
    "&site_source_name=" .. ((i % 3 ~= 0) and "fb" or "ig") .. "&fbclid=IwAR" .. string.format("%x", i * 7919) .. "x" .. string.format("%x", i)
  return wrk.format("GET", prefix .. q, headers)
end
`;
  }
  return `${common}
local ids = {}
for line in io.lines(${JSON.stringify(idsFile)}) do ids[#ids + 1] = line end
local headers = { ["User-Agent"] = "AffiliateNetwork-Postback/1.0", ["X-Forwarded-For"] = "198.18.0.10" }
function request()
  if not primed then return primer() end
  if sent >= amount then return "" end
  local i = offset + sent
  sent = sent + 1
  local path = "/postback?cid=" .. ids[i % #ids + 1] .. "&payout=" .. string.format("%.2f", 1 + (i % 50) / 10) ..
    "&txid=bench-" .. i .. "&status=approved"
  return wrk.format("GET", path, headers)
end
`;
}

const DONE_SCRIPT = `
local thread
function setup(t) thread = t end
function done(summary, latency, requests)
  local st = thread:get("statuses")
  local parts = {}
  for code, n in pairs(st) do parts[#parts + 1] = string.format('"%d":%d', code, n) end
  local e = summary.errors
  io.write(string.format('tracklane-wrk-json: {"requests":%d,"durationUs":%d,"statuses":{%s},"errors":%d,"timeouts":%d,"p50":%f,"p99":%f,"p999":%f,"max":%f,"mean":%f}\\n',
    summary.requests, summary.duration, table.concat(parts, ","), e.connect + e.read + e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
`;

/** The JSON line the script's done() prints; latencies there are in microseconds. */
export function parseWrkSummary(stdout: string) {
  const line = stdout.split('\n').find((l) => l.startsWith('tracklane-wrk-json: '));
  if (!line) return null;
  return JSON.parse(line.slice('tracklane-wrk-json: '.length)) as {
    requests: number;
    durationUs: number;
    statuses: Record<string, number>;
    errors: number;
    timeouts: number;
    p50: number;
    p99: number;
    p999: number;
    max: number;
    mean: number;
  };
}

export async function runWrk(job: ClosedLoopJob): Promise<LoadResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tracklane-wrk-'));
  try {
    let idsFile: string | null = null;
    if (job.plan.kind === 'postback') {
      idsFile = path.join(dir, 'ids.txt');
      writeFileSync(idsFile, `${job.plan.clickIds.join('\n')}\n`);
    }
    const script = path.join(dir, 'plan.lua');
    writeFileSync(script, wrkScript(job.plan, job.amount, job.offset, idsFile) + DONE_SCRIPT);
    const timeoutS = job.timeoutS ?? 10;
    // The duration is only a ceiling: the run ends when the last answer is in.
    const ceilingS = Math.max(60, Math.ceil(job.amount / 500));
    const child = spawn('wrk', ['-t1', `-c${job.connections}`, `-d${ceilingS}s`, `--timeout`, `${timeoutS}s`, '-s', script, `http://127.0.0.1:${job.port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    // From the spawn: wrk's own "Running" line is held in its stdout buffer until the script
    // flushes, so it cannot mark the start; starting up costs it a millisecond or two.
    const t0 = performance.now();
    let wallMs: number | null = null;
    let cpuMicros = 0;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (wallMs === null && stdout.includes('tracklane-wrk: all answered')) {
        wallMs = performance.now() - t0;
        cpuMicros = processCpuMicros(child.pid!) ?? 0;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const s = parseWrkSummary(stdout);
    if (!s) throw new Error(`wrk exited with code ${code} and no summary: ${stderr.trim() || stdout.trim()}`);
    if (wallMs === null) {
      // Not every request was answered before the ceiling: report what was.
      wallMs = s.durationUs / 1000;
    }
    const answered = Object.values(s.statuses).reduce((a, b) => a + b, 0);
    const ms = (us: number) => us / 1000;
    return {
      sent: job.amount,
      statuses: s.statuses,
      errors: s.errors,
      timeouts: job.amount - answered - s.errors > 0 ? job.amount - answered - s.errors : 0,
      wallMs,
      requestsPerSecond: answered / (wallMs / 1000),
      latency: { p50: ms(s.p50), p99: ms(s.p99), p999: ms(s.p999), max: ms(s.max), mean: ms(s.mean), count: answered },
      generatorCpuMicros: cpuMicros,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export type ClosedLoopGenerator = 'wrk' | 'autocannon';

/** BENCH_GENERATOR when set, else wrk when it is on the PATH, else autocannon (always installed). */
export function pickGenerator(raw: string | undefined): ClosedLoopGenerator {
  if (raw === 'wrk' || raw === 'autocannon') return raw;
  if (raw !== undefined && raw !== '') throw new Error('invalid BENCH_GENERATOR: expected wrk or autocannon');
  return spawnSync('wrk', ['-v']).error ? 'autocannon' : 'wrk';
}
