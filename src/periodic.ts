// Background work on a timer, the one way: a pass every `everyMs`, never two at once, a failure
// logged with the task's name and counted, and on shutdown no new pass while the running one is
// awaited (then `onStop`, e.g. a last fold). Used by the attribution workers, the rollup fold,
// visit retention and the offer caps.
import type { AppContext } from './context.js';

export interface PeriodicOptions<T> {
  name: string;
  everyMs: number;
  run: () => Promise<T>;
  /** After a pass succeeds; `true` runs the next one in a second instead of waiting (a backlog). */
  after?: (result: T) => boolean | void;
  /** Called with each failure, after it is logged. */
  onError?: (err: Error) => void;
  /** First pass this soon after start (default: after `everyMs`). */
  firstAfterMs?: number;
  onStop?: () => Promise<void>;
}

export interface Periodic {
  /** Runs a pass now, or joins the one running. */
  runNow(): Promise<void>;
}

export function startPeriodic<T>(ctx: Pick<AppContext, 'log' | 'lifecycle'>, opts: PeriodicOptions<T>): Periodic {
  let running: Promise<void> | undefined;
  let stopped = false;
  const tick = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    running ??= opts
      .run()
      .then((result) => {
        if (opts.after?.(result) === true && !stopped) setTimeout(tick, 1000).unref();
      })
      .catch((err: Error) => {
        ctx.log.error({ err, worker: opts.name }, `${opts.name} failed`);
        opts.onError?.(err);
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const first = opts.firstAfterMs !== undefined ? setTimeout(tick, opts.firstAfterMs) : undefined;
  first?.unref();
  const timer = setInterval(tick, opts.everyMs);
  timer.unref();
  ctx.lifecycle.onShutdown(opts.name, async () => {
    stopped = true;
    clearTimeout(first);
    clearInterval(timer);
    await running;
    await opts.onStop?.();
  });
  return { runNow: tick };
}
