// Allocation probe for the tracker under load: preloaded with `--import ./bench/lib/alloc-probe.mjs`
// (bench/click-cpu.ts: CLICK_CPU_NODE_ARGS), it samples every allocation, the ones already
// collected included, from ALLOC_PROBE_START_MS after start for ALLOC_PROBE_MS, and writes a
// .heapprofile (Chrome DevTools format) to $ALLOC_PROBE_FILE. Allocation volume per request is what
// sets how often the young generation is scavenged, and so part of /click's latency tail.
// Plain JS (no tsx) so it loads before anything else; not imported by the app.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const file = process.env.ALLOC_PROBE_FILE || `/tmp/tracklane-alloc-${process.pid}.heapprofile`;
const session = new Session();
session.connect();
const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (err, r) => (err ? reject(err) : resolve(r))));
setTimeout(async () => {
  await post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  setTimeout(async () => {
    const { profile } = await post('HeapProfiler.stopSampling');
    writeFileSync(file, JSON.stringify(profile));
  }, Number(process.env.ALLOC_PROBE_MS || 5000)).unref();
}, Number(process.env.ALLOC_PROBE_START_MS || 10_000)).unref();
