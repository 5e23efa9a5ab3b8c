import { randomUUID } from 'node:crypto';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A BullMQ/key prefix of its own for each test, so queues and limiters never collide. */
export function testRedisPrefix(label = 'test'): string {
  return `bf-test-${label}-${randomUUID().slice(0, 8)}`;
}
