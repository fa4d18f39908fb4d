import pLimit, { type LimitFunction } from 'p-limit';

/** Thrown when too much CPU-heavy work is already waiting; pages answer 503 with Retry-After. */
export class BusyError extends Error {
  readonly status = 503;
  constructor(what: string) {
    super(`too many ${what} waiting, try again shortly`);
  }
}

export interface CpuQueue {
  run<T>(task: () => Promise<T>): Promise<T>;
}

/**
 * Runs CPU-heavy work that Node puts on libuv's thread pool (scrypt, image decoding)
 * at most `concurrency` at a time, with at most `maxWaiting` queued behind. libuv has
 * only 4 threads, shared with file-system calls: unbounded, a sign-in flood occupies
 * all of them and the upload folder's health probe times out (issue 10). The wait
 * list is bounded so that a flood is refused quickly instead of queueing for minutes.
 */
export function cpuQueue(what: string, concurrency: number, maxWaiting: number): CpuQueue {
  const limit: LimitFunction = pLimit(concurrency);
  return {
    run<T>(task: () => Promise<T>): Promise<T> {
      if (limit.pendingCount >= maxWaiting) return Promise.reject(new BusyError(what));
      return limit(task);
    },
  };
}
