// Pure helpers for the benchmark: percentiles from raw samples, medians, ratios, the printed table.
// Kept free of I/O so test/unit/bench-stats.test.ts checks them directly.

export interface LatencySummary {
  /** Milliseconds. */
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  count: number;
}

/**
 * Nearest-rank percentile over ascending samples: the smallest sample with at least p% of the
 * samples at or below it. No interpolation, so a reported p99 is a latency someone actually saw.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  if (p <= 0) return sorted[0];
  if (p >= 100) return sorted[sorted.length - 1];
  // The epsilon keeps float noise (99.9 / 100 * 1000 = 999.0000000000001) from skipping a rank.
  const rank = Math.ceil((p / 100) * sorted.length - 1e-9);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function summarizeLatency(samples: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(samples as ArrayLike<number>).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
    mean: sorted.length ? sum / sorted.length : NaN,
    count: sorted.length,
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** a / b, or null when b is zero or either is not a finite number (never NaN/Infinity in results.json). */
export function ratio(a: number, b: number): number | null {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}

/** Scales a default count by BENCH_SCALE, never below `min`, always an integer. */
export function scaled(base: number, scale: number, min = 1): number {
  return Math.max(min, Math.round(base * scale));
}

/** Parses BENCH_SCALE: a number in (0, 10]; anything else is an error naming the variable. */
export function parseScale(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return 1;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > 10) throw new Error(`invalid BENCH_SCALE: expected a number in (0, 10], got "${raw}"`);
  return n;
}

/** CPU time over wall time, as percent of one core (200% = both cores of a 2-core machine). */
export function cpuPercent(cpuMicros: number, wallMs: number): number | null {
  if (wallMs <= 0) return null;
  return (cpuMicros / 1000 / wallMs) * 100;
}

/** utime + stime from /proc/<pid>/stat, in clock ticks. The command name may contain spaces and parens. */
export function parseProcStatCpuTicks(stat: string): number {
  const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after "(comm)": state is field 3, so utime (14) and stime (15) are at index 11 and 12.
  const utime = Number(after[11]);
  const stime = Number(after[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('unexpected /proc/<pid>/stat format');
  return utime + stime;
}

/** VmHWM (peak resident set) from /proc/<pid>/status, in kB, or null when absent. */
export function parseVmHwmKb(status: string): number | null {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) : null;
}

export type Cell = string | number | null | undefined;

export function fmt(v: Cell, digits = 1): string {
  if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return '-';
  if (typeof v === 'string') return v;
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A plain-text table (also valid Markdown) with right-aligned numbers. */
export function formatTable(header: string[], rows: Cell[][]): string {
  const cells = rows.map((r) => r.map((c) => fmt(c)));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.every((r) => typeof r[i] !== 'string' || r[i] === '-'));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (numeric[i] && i > 0 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (numeric[i] && i > 0 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(header), sep, ...cells.map(line)].join('\n');
}

/** Busy and total jiffies over all CPUs from the first line of /proc/stat (idle and iowait count as not busy). */
export function parseProcStatTotals(stat: string): { busy: number; total: number; steal: number } {
  const line = stat.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('unexpected /proc/stat format');
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = v[3] + v[4];
  // Steal: time the hypervisor gave this VM's cores to other guests. It counts as busy (nothing
  // here could use it), and it is kept apart because on a shared host it explains most of the
  // noise between runs.
  return { busy: total - idle, total, steal: v[7] ?? 0 };
}
