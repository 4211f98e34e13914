// The load generator, run as its own process (forked by bench/run.ts) so its CPU use is measured
// apart from the tracker's. Two kinds of job: autocannon at full speed (closed loop, N connections)
// and a fixed-rate open loop that times every answer from its scheduled send time, so a slow
// answer delays the clock of the requests behind it instead of hiding them (coordinated omission).
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { RawHttpPool } from './lib/raw-http.js';
import { summarizeLatency, type LatencySummary } from './lib/stats.js';
import { planRequest, type TrafficPlan } from './lib/traffic.js';
import { runWrk } from './lib/wrk.js';

/** Closed loop at full speed, N connections, with autocannon or wrk (bench/lib/wrk.ts). */
export interface ClosedLoopJob {
  type: 'autocannon' | 'wrk';
  port: number;
  plan: TrafficPlan;
  connections: number;
  /** Exactly this many requests (so every answered one can be matched to a row afterwards). */
  amount: number;
  /** Request numbering starts here, so successive rounds send distinct values. */
  offset: number;
  timeoutS?: number;
}

export interface FixedRateJob {
  type: 'fixed';
  port: number;
  plan: TrafficPlan;
  rate: number;
  durationS: number;
  offset: number;
  maxSockets: number;
}

export type LoadJob = ClosedLoopJob | FixedRateJob;

export interface LoadResult {
  sent: number;
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  wallMs: number;
  requestsPerSecond: number;
  /** From the moment autocannon wrote the request (closed loop) or from the scheduled time (fixed rate). */
  latency: LatencySummary;
  /** Fixed rate only: from the actual write, i.e. without the generator's own timer lag. */
  serviceLatency?: LatencySummary;
  /** Fixed rate only: how late the generator sent, at worst. */
  maxSendLagMs?: number;
  /** Fixed rate: per second of the run, the slowest answer (from scheduled send, ms) and how many took over 5 ms. */
  perSecond?: { maxMs: number; over5ms: number }[];
  /** The generator's own CPU (user + system) over the job, in microseconds. */
  generatorCpuMicros: number;
}

async function runAutocannon(job: ClosedLoopJob): Promise<LoadResult> {
  const samples: number[] = [];
  let n = job.offset;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const instance = autocannon({
    url: `http://127.0.0.1:${job.port}`,
    connections: job.connections,
    amount: job.amount,
    timeout: job.timeoutS ?? 10,
    // Redirects are the answer being measured; never follow one off the machine.
    followRedirects: false,
    requests: [
      {
        method: 'GET',
        setupRequest: (req: Record<string, unknown>) => {
          const r = planRequest(job.plan, n++);
          return { ...req, path: r.path, headers: { ...(req.headers as object), ...r.headers } };
        },
      },
    ],
  });
  // autocannon's own histogram has 1 ms resolution and keeps only 2xx; record every answer here.
  let lastAnswerAt = t0;
  instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTimeMs: number) => {
    samples.push(responseTimeMs);
    lastAnswerAt = performance.now();
  });
  const result = await instance;
  // autocannon settles `amount` runs on its 1-second tick, so the time to the promise rounds up to a
  // whole second and hides gains; the last answer's arrival is when the work was really done.
  const wallMs = (result.errors > 0 ? performance.now() : lastAnswerAt) - t0;
  const cpu = process.cpuUsage(cpu0);
  const statuses: Record<string, number> = {};
  for (const [code, s] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = (s as { count: number }).count;
  const answered = Object.values(statuses).reduce((a, b) => a + b, 0);
  return {
    sent: answered + result.errors,
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    wallMs,
    requestsPerSecond: answered / (wallMs / 1000),
    latency: summarizeLatency(samples),
    generatorCpuMicros: cpu.user + cpu.system,
  };
}

async function runFixedRate(job: FixedRateJob): Promise<LoadResult> {
  const pool = new RawHttpPool(job.port, job.maxSockets);
  await pool.open();
  const total = Math.max(1, Math.round(job.rate * job.durationS));
  const interval = 1000 / job.rate;
  const fromScheduled = new Float64Array(total).fill(NaN);
  const fromSent = new Float64Array(total).fill(NaN);
  const statuses: Record<string, number> = {};
  let errors = 0;
  let timeouts = 0;
  let finished = 0;
  let maxLag = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now() + 20;

  await new Promise<void>((resolve) => {
    let next = 0;
    const deadline = setTimeout(resolve, (job.durationS + 30) * 1000);
    const done = () => {
      finished++;
      if (finished === total) {
        clearTimeout(deadline);
        resolve();
      }
    };
    const send = (i: number, scheduled: number) => {
      const sentAt = performance.now();
      maxLag = Math.max(maxLag, sentAt - scheduled);
      const r = planRequest(job.plan, job.offset + i);
      pool.request(r.path, r.headers, {
        onAnswer: (a) => {
          const end = performance.now();
          fromScheduled[i] = end - scheduled;
          fromSent[i] = end - sentAt;
          statuses[a.status] = (statuses[a.status] ?? 0) + 1;
          done();
        },
        onError: () => {
          errors++;
          done();
        },
      });
    };
    // Timers fire at 1 ms granularity, so each tick sends every request that has come due; the
    // lag this adds is counted in the from-scheduled latency (honest) and reported apart.
    const tick = () => {
      const now = performance.now();
      while (next < total && start + next * interval <= now) {
        send(next, start + next * interval);
        next++;
      }
      if (next < total) setTimeout(tick, 1);
    };
    setTimeout(tick, 20);
  });
  const wallMs = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  // Still unanswered when the deadline passed.
  timeouts = total - finished;
  pool.close();
  const answered = Object.values(statuses).reduce((a, b) => a + b, 0);
  const ok = (a: Float64Array) => Array.from(a).filter((v) => !Number.isNaN(v));
  return {
    sent: total,
    statuses,
    errors,
    timeouts,
    wallMs,
    requestsPerSecond: answered / (wallMs / 1000),
    latency: summarizeLatency(ok(fromScheduled)),
    serviceLatency: summarizeLatency(ok(fromSent)),
    maxSendLagMs: maxLag,
    perSecond: perSecond(fromScheduled, job.rate),
    generatorCpuMicros: cpu.user + cpu.system,
  };
}

/** Where in time the slow answers were: one stall shows as one bad second, a general tail as many. */
function perSecond(fromScheduled: Float64Array, rate: number) {
  const out: { maxMs: number; over5ms: number }[] = [];
  for (let i = 0; i < fromScheduled.length; i++) {
    const v = fromScheduled[i];
    if (Number.isNaN(v)) continue;
    const s = Math.floor(i / rate);
    out[s] ??= { maxMs: 0, over5ms: 0 };
    out[s].maxMs = Math.max(out[s].maxMs, Number(v.toFixed(1)));
    if (v > 5) out[s].over5ms++;
  }
  return Array.from(out, (x) => x ?? { maxMs: 0, over5ms: 0 });
}

export function runJob(job: LoadJob): Promise<LoadResult> {
  if (job.type === 'fixed') return runFixedRate(job);
  return job.type === 'wrk' ? runWrk(job) : runAutocannon(job);
}

if (process.send) {
  process.on('message', (msg: { id: number; job: LoadJob }) => {
    runJob(msg.job).then(
      (result) => process.send!({ id: msg.id, result }),
      (err: Error) => process.send!({ id: msg.id, error: err.stack ?? err.message }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}
