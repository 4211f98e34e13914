// Interleaved rounds: baseline, target, baseline, target... so drift (thermal, noisy neighbours,
// Postgres checkpoints) hits both sides alike. Each round sends a fixed number of requests, sized
// from the previous round's rate, so every answered request can be matched to a row afterwards.
import type { LoadResult } from '../load-worker.js';
import { cpuPercent, median, ratio } from './stats.js';
import type { TrafficPlan } from './traffic.js';
import type { ClosedLoopGenerator } from './wrk.js';
import { machineBusyPercent, machineCpu, machineStealPercent, processCpuMicros, servicesCpuDelta, servicesCpuMicros, type LoadGenerator } from './procs.js';

export interface Target {
  name: string;
  pid: number;
  port: number;
  plan: TrafficPlan;
  /** The status code that means "served" (302 for /click, 200 for /postback). */
  okStatus: number;
}

export interface RoundResult {
  target: string;
  round: number;
  requests: number;
  ok: number;
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  p999: number;
  targetCpuPercent: number | null;
  generatorCpuPercent: number | null;
  /** Postgres processes together, and Redis, percent of one core. */
  postgresCpuPercent: number | null;
  redisCpuPercent: number | null;
  /** All cores together (100 = every core busy): near 100 means the machine, not the server, was the limit. */
  machineCpuPercent: number | null;
  /** Of machineCpuPercent, what the hypervisor gave to other guests (steal). */
  stealCpuPercent: number | null;
}

export interface SideSummary {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  p999: number;
  targetCpuPercent: number | null;
  generatorCpuPercent: number | null;
  postgresCpuPercent: number | null;
  redisCpuPercent: number | null;
  machineCpuPercent: number | null;
  stealCpuPercent: number | null;
  /** Answers with okStatus over every round, warm-up included (what must match rows afterwards). */
  okTotal: number;
  otherTotal: number;
  errorsTotal: number;
}

export interface InterleavedResult {
  rounds: RoundResult[];
  baseline: SideSummary;
  target: SideSummary;
  /** target req/s over baseline req/s (medians over rounds). */
  ratio: number | null;
}

export interface RoundOptions {
  rounds: number;
  roundSeconds: number;
  connections: number;
  generator: ClosedLoopGenerator;
  warmupRequests: number;
  /** Upper bound on one round's requests (e.g. the click IDs available for postbacks). */
  maxPerRound?: number;
  log: (line: string) => void;
}

async function measured(gen: LoadGenerator, t: Target, amount: number, offset: number, opts: RoundOptions) {
  const cpu0 = processCpuMicros(t.pid);
  const m0 = machineCpu();
  const s0 = servicesCpuMicros();
  const t0 = Date.now();
  const r: LoadResult = await gen.run({ type: opts.generator, port: t.port, plan: t.plan, connections: opts.connections, amount, offset });
  const wall = Date.now() - t0;
  const cpu1 = processCpuMicros(t.pid);
  const m1 = machineCpu();
  const services = servicesCpuDelta(s0, servicesCpuMicros());
  return {
    postgresCpuPercent: cpuPercent(services.postgres, wall),
    redisCpuPercent: cpuPercent(services.redis, wall),
    r,
    machineCpuPercent: machineBusyPercent(m0, m1),
    stealCpuPercent: machineStealPercent(m0, m1),
    targetCpuPercent: cpu0 !== null && cpu1 !== null ? cpuPercent(cpu1 - cpu0, wall) : null,
    generatorCpuPercent: cpuPercent(r.generatorCpuMicros, r.wallMs),
  };
}

export async function interleave(gen: LoadGenerator, baseline: Target, target: Target, opts: RoundOptions): Promise<InterleavedResult> {
  const rounds: RoundResult[] = [];
  const totals = new Map<string, { ok: number; other: number; errors: number }>([
    [baseline.name, { ok: 0, other: 0, errors: 0 }],
    [target.name, { ok: 0, other: 0, errors: 0 }],
  ]);
  const lastRate = new Map<string, number>();
  // Each side numbers its own requests, so the target never reuses a value (a click ID for a
  // postback) because the baseline consumed numbers in between.
  const offsets = new Map<string, number>([
    [baseline.name, 0],
    [target.name, 0],
  ]);
  const take = (t: Target, amount: number) => {
    const o = offsets.get(t.name)!;
    offsets.set(t.name, o + amount + opts.connections * 2);
    return o;
  };
  const account = (t: Target, r: LoadResult) => {
    const tot = totals.get(t.name)!;
    for (const [code, n] of Object.entries(r.statuses)) {
      if (Number(code) === t.okStatus) tot.ok += n;
      else tot.other += n;
    }
    tot.errors += r.errors + r.timeouts;
  };

  for (const t of [baseline, target]) {
    const w = await measured(gen, t, opts.warmupRequests, take(t, opts.warmupRequests), opts);
    account(t, w.r);
    lastRate.set(t.name, w.r.requestsPerSecond);
    opts.log(`  warm-up ${t.name}: ${Math.round(w.r.requestsPerSecond)} req/s`);
  }
  for (let round = 1; round <= opts.rounds; round++) {
    for (const t of [baseline, target]) {
      let amount = Math.max(500, Math.round((lastRate.get(t.name) ?? 1000) * opts.roundSeconds));
      if (opts.maxPerRound !== undefined) amount = Math.min(amount, opts.maxPerRound);
      const m = await measured(gen, t, amount, take(t, amount), opts);
      account(t, m.r);
      lastRate.set(t.name, m.r.requestsPerSecond);
      const ok = m.r.statuses[String(t.okStatus)] ?? 0;
      rounds.push({
        target: t.name,
        round,
        requests: amount,
        ok,
        statuses: m.r.statuses,
        errors: m.r.errors,
        timeouts: m.r.timeouts,
        requestsPerSecond: m.r.requestsPerSecond,
        p50: m.r.latency.p50,
        p99: m.r.latency.p99,
        p999: m.r.latency.p999,
        targetCpuPercent: m.targetCpuPercent,
        generatorCpuPercent: m.generatorCpuPercent,
        postgresCpuPercent: m.postgresCpuPercent,
        redisCpuPercent: m.redisCpuPercent,
        machineCpuPercent: m.machineCpuPercent,
        stealCpuPercent: m.stealCpuPercent,
      });
      opts.log(
        `  round ${round} ${t.name}: ${Math.round(m.r.requestsPerSecond)} req/s, p99 ${m.r.latency.p99.toFixed(2)} ms, ` +
          `${ok}/${amount} answered ${t.okStatus}, cpu ${m.targetCpuPercent?.toFixed(0)}% (generator ${m.generatorCpuPercent?.toFixed(0)}%, postgres ${m.postgresCpuPercent?.toFixed(0)}%, redis ${m.redisCpuPercent?.toFixed(0)}%, machine ${m.machineCpuPercent?.toFixed(0)}% of all cores, steal ${m.stealCpuPercent?.toFixed(0)}%)`,
      );
    }
  }
  const side = (name: string): SideSummary => {
    const rs = rounds.filter((r) => r.target === name);
    const pick = (f: (r: RoundResult) => number | null) => {
      const vals = rs.map(f).filter((v): v is number => v !== null);
      return vals.length ? median(vals) : null;
    };
    const tot = totals.get(name)!;
    return {
      requestsPerSecond: median(rs.map((r) => r.requestsPerSecond)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      p999: median(rs.map((r) => r.p999)),
      targetCpuPercent: pick((r) => r.targetCpuPercent),
      generatorCpuPercent: pick((r) => r.generatorCpuPercent),
      postgresCpuPercent: pick((r) => r.postgresCpuPercent),
      redisCpuPercent: pick((r) => r.redisCpuPercent),
      machineCpuPercent: pick((r) => r.machineCpuPercent),
      stealCpuPercent: pick((r) => r.stealCpuPercent),
      okTotal: tot.ok,
      otherTotal: tot.other,
      errorsTotal: tot.errors,
    };
  };
  const b = side(baseline.name);
  const t = side(target.name);
  return { rounds, baseline: b, target: t, ratio: ratio(t.requestsPerSecond, b.requestsPerSecond) };
}
