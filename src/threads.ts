// Starting a worker thread on one of our own modules, built or not. Under tsx (development, tests,
// the benchmark) the module is TypeScript, and the thread needs tsx's loader registered inside it
// before its entry module is imported (a worker's `--import tsx` comes too late for that on Node 20).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * A thread running `name` (without extension), a module next to the caller.
 * `callerUrl` is the caller's `import.meta.url`: a `.ts` caller means a `.ts` thread.
 */
export function startModuleThread(callerUrl: string, name: string, workerData: unknown): Worker {
  const isTs = callerUrl.endsWith('.ts');
  const url = new URL(`./${name}${isTs ? '.ts' : '.js'}`, callerUrl);
  if (!isTs) return new Worker(url, { workerData });
  // tsx's ESM entry, found through its package.json: require.resolve would give the CJS build.
  const pkgPath = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  const tsxApi = pathToFileURL(join(dirname(pkgPath), pkg.exports['./esm/api'].import.default)).href;
  const boot = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(boot, { eval: true, workerData });
}
