// Child processes of the benchmark: the tracker, the baseline and the load generator, each its own
// process on loopback, with CPU time and peak RSS read from /proc so the report can say who used what.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { openSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadJob, LoadResult } from '../load-worker.js';
import { parseProcStatCpuTicks, parseProcStatTotals, parseVmHwmKb } from './stats.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** CPU time (user + system) of a process so far, in microseconds; null when it is gone. */
export function processCpuMicros(pid: number): number | null {
  try {
    return (parseProcStatCpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) * 1e6) / CLK_TCK;
  } catch {
    return null;
  }
}

/**
 * CPU time so far of every Postgres and Redis process (backends, background workers,
 * redis-server), in microseconds, keyed by pid: the services the tracker leans on compete with it
 * for the same cores, so a round reports their share too.
 */
export function servicesCpuMicros(): Map<number, { service: Service; micros: number }> {
  const out = new Map<number, { service: Service; micros: number }>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e.charCodeAt(0) < 48 || e.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue;
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const service = comm === 'postgres' ? 'postgres' : comm === 'redis-server' ? 'redis' : null;
    if (service) out.set(Number(e), { service, micros: (parseProcStatCpuTicks(stat) * 1e6) / CLK_TCK });
  }
  return out;
}
export type Service = 'postgres' | 'redis';

/** CPU used per service between two servicesCpuMicros() readings; a process started in between counts from zero. */
export function servicesCpuDelta(a: ReturnType<typeof servicesCpuMicros>, b: ReturnType<typeof servicesCpuMicros>): Record<Service, number> {
  const sum: Record<Service, number> = { postgres: 0, redis: 0 };
  for (const [pid, v] of b) sum[v.service] += v.micros - (a.get(pid)?.micros ?? 0);
  return sum;
}

type MachineCpu = ReturnType<typeof parseProcStatTotals>;

/** Whole-machine CPU counters; busy/total between two readings is how saturated the machine was. */
export function machineCpu(): MachineCpu | null {
  try {
    return parseProcStatTotals(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return null;
  }
}

/** Percent of all cores busy between two machineCpu() readings. */
export function machineBusyPercent(a: MachineCpu | null, b: MachineCpu | null): number | null {
  if (!a || !b || b.total <= a.total) return null;
  return ((b.busy - a.busy) / (b.total - a.total)) * 100;
}

/** Percent of all cores taken by the hypervisor for other guests between two readings. */
export function machineStealPercent(a: MachineCpu | null, b: MachineCpu | null): number | null {
  if (!a || !b || b.total <= a.total) return null;
  return ((b.steal - a.steal) / (b.total - a.total)) * 100;
}

/** Peak resident set (VmHWM) of a live process, in MB. */
export function peakRssMb(pid: number): number | null {
  try {
    const kb = parseVmHwmKb(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return kb === null ? null : kb / 1024;
  } catch {
    return null;
  }
}

export interface NodeProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  logFile: string;
  /** The highest VmHWM seen so far (polled, since /proc vanishes when the process exits). */
  peakRssMb(): number | null;
  /** Sends a signal and waits for the exit; resolves with how long it took, in ms. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ ms: number; code: number | null; killed: boolean }>;
}

export interface SpawnOptions {
  script: string;
  env: Record<string, string>;
  port: number;
  logFile: string;
  /** A URL path that answers 200 when the process is ready. */
  readyPath: string;
  readyTimeoutMs?: number;
  /** Node flags before the script (--cpu-prof and friends, which NODE_OPTIONS refuses). */
  nodeArgs?: string[];
}

/** Runs a TypeScript entry with `node --import tsx` (one process, so its pid is the one measured). */
export async function spawnNode(opts: SpawnOptions): Promise<NodeProcess> {
  const out = openSync(opts.logFile, 'a');
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', opts.script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'production', ...opts.env, PORT: String(opts.port) },
    stdio: ['ignore', out, out],
  });
  const pid = child.pid!;
  let exited: { code: number | null } | undefined;
  const exit = new Promise<{ code: number | null }>((resolve) =>
    child.once('exit', (code) => {
      exited = { code };
      resolve(exited);
    }),
  );
  let peak: number | null = null;
  const poll = setInterval(() => {
    const v = peakRssMb(pid);
    if (v !== null) peak = Math.max(peak ?? 0, v);
  }, 200);
  poll.unref();
  void exit.then(() => clearInterval(poll));

  const proc: NodeProcess = {
    child,
    pid,
    port: opts.port,
    logFile: opts.logFile,
    peakRssMb: () => {
      const v = peakRssMb(pid);
      if (v !== null) peak = Math.max(peak ?? 0, v);
      return peak;
    },
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (exited) return { ms: 0, code: exited.code, killed: false };
      proc.peakRssMb();
      const t0 = Date.now();
      child.kill(signal);
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
      const r = await Promise.race([exit, timer]);
      if (r === 'timeout') {
        child.kill('SIGKILL');
        const { code } = await exit;
        return { ms: Date.now() - t0, code, killed: true };
      }
      return { ms: Date.now() - t0, code: r.code, killed: false };
    },
  };
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exited) throw new Error(`${path.basename(opts.script)} exited with code ${exited.code} before it was ready; see ${opts.logFile}`);
    try {
      const res = await fetch(`http://127.0.0.1:${opts.port}${opts.readyPath}`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await proc.stop('SIGKILL');
      throw new Error(`${path.basename(opts.script)} not ready within ${opts.readyTimeoutMs ?? 60_000} ms; see ${opts.logFile}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return proc;
}

/** The load generator process; jobs run one at a time. */
export class LoadGenerator {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: LoadResult) => void; reject: (e: Error) => void }>();

  constructor() {
    this.child = fork(path.join(ROOT, 'bench/load-worker.ts'), [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (msg: { id: number; result?: LoadResult; error?: string }) => {
      const w = this.waiting.get(msg.id);
      if (!w) return;
      this.waiting.delete(msg.id);
      if (msg.error) w.reject(new Error(`load generator: ${msg.error}`));
      else w.resolve(msg.result!);
    });
    this.child.on('exit', (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`load generator exited with code ${code}`));
      this.waiting.clear();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  run(job: LoadJob, timeoutMs = 300_000): Promise<LoadResult> {
    const id = this.nextId++;
    return new Promise<LoadResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`load job ${job.type} did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.waiting.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ id, job });
    });
  }

  close(): void {
    if (this.child.connected) this.child.disconnect();
    this.child.kill('SIGTERM');
  }
}
