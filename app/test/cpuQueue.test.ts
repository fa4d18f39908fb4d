import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { BusyError, cpuQueue } from '../src/lib/cpuQueue.js';

describe('the CPU work queue (password hashing, photo decoding)', () => {
  it('runs one task at a time, queues a few, and refuses the rest at once', async () => {
    const queue = cpuQueue('tests', 1, 2);
    let running = 0;
    let most = 0;
    const task = async () => {
      most = Math.max(most, ++running);
      await sleep(50);
      running--;
      return 'done';
    };
    const t0 = Date.now();
    const results = await Promise.allSettled([queue.run(task), queue.run(task), queue.run(task), queue.run(task)]);
    assert.equal(most, 1, 'never two at once');
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    const refused = results[3];
    assert.ok(refused?.status === 'rejected' && refused.reason instanceof BusyError);
    assert.equal((refused.reason as BusyError).status, 503);
    assert.ok(Date.now() - t0 >= 150, 'the three accepted ran one after another');
    assert.equal(await queue.run(task), 'done', 'accepts again once the queue drained');
  });
});
