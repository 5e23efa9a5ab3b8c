import { randomUUID } from 'node:crypto';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Start of every test's key prefix (test/support/postgres.ts's TEST_DATABASE_PREFIX, for Redis). */
const PREFIX = process.env.TEST_REDIS_PREFIX ?? 'bf-test';

/** A BullMQ/key prefix of its own for each test, so queues and limiters never collide. */
export function testRedisPrefix(label = 'test'): string {
  return `${PREFIX}-${label}-${randomUUID().slice(0, 8)}`;
}
