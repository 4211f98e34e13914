// Event-loop probe for the tracker under load: preloaded with
// BENCH_TRACKER_NODE_OPTIONS="--import ./bench/lib/loop-probe.mjs", it appends one line every 2 s
// (to $LOOP_PROBE_LOG, default /tmp/tracklane-loop-probe.log) with the event-loop delay and the GC
// pauses of that window, so a slow tail can be told apart: GC pauses, or our own long synchronous work.
// Plain JS (no tsx) so it loads before anything else; not imported by the app.
import { appendFileSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

const file = process.env.LOOP_PROBE_LOG || '/tmp/tracklane-loop-probe.log';
const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
let gc = { count: 0, totalMs: 0, maxMs: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.count++;
    gc.totalMs += e.duration;
    gc.maxMs = Math.max(gc.maxMs, e.duration);
  }
}).observe({ entryTypes: ['gc'] });
const ms = (ns) => Number((ns / 1e6).toFixed(1));
setInterval(() => {
  if (delay.count === 0) return;
  const line = { pid: process.pid, at: new Date().toISOString(), loopDelayMs: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) }, gc: { count: gc.count, totalMs: Number(gc.totalMs.toFixed(1)), maxMs: Number(gc.maxMs.toFixed(1)) } };
  appendFileSync(file, `${JSON.stringify(line)}\n`);
  delay.reset();
  gc = { count: 0, totalMs: 0, maxMs: 0 };
}, 2000).unref();
