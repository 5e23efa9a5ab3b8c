import { connect } from 'node:net';
import {
  checkEvictionPolicy,
  createRedisConnection,
  RedisPolicyError,
  readEvictionPolicy,
  redactUrl,
} from '@birdfeed/jobs';
import type { RedisChoice } from './demo-options.ts';

/** Where the demo looks for a Redis when neither --redis nor REDIS_URL names one. */
export const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379';

export type QueueMode =
  | { kind: 'bullmq'; redisUrl: string; why: string; explicit: boolean }
  | { kind: 'in-process'; why: string };

export class RedisUnreachableError extends Error {
  override readonly name = 'RedisUnreachableError';
}

/**
 * Sends one PING (inline command) and waits for +PONG. A Redis that wants a password answers
 * -NOAUTH: it is there, but not for us without credentials, so it counts as not answering.
 */
export function pingRedis(url: string, timeoutMs = 500): Promise<boolean> {
  const parsed = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({
      host: parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
      port: Number(parsed.port || 6379),
    });
    let reply = '';
    const done = (answer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => {
      // With credentials in the URL (redis://:pass@host), authenticate first.
      if (parsed.password !== '') {
        const user = decodeURIComponent(parsed.username);
        const pass = decodeURIComponent(parsed.password);
        const args = user === '' ? ['AUTH', pass] : ['AUTH', user, pass];
        socket.write(
          `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`,
        );
      }
      socket.write('PING\r\n');
    });
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('+PONG')) done(true);
      else if (reply.includes('-')) done(false);
    });
    socket.on('error', () => done(false));
  });
}

/** Decides the queue mode: the issue's rule, with --redis / BIRDFEED_DEMO_REDIS on top. */
export async function chooseQueueMode(
  choice: RedisChoice,
  redisUrlFromEnv: string | undefined,
  localRedisUrl: string = LOCAL_REDIS_URL,
): Promise<QueueMode> {
  if (choice.kind === 'off') {
    return { kind: 'in-process', why: 'Redis turned off (--redis off / BIRDFEED_DEMO_REDIS=off)' };
  }
  const named =
    choice.kind === 'url'
      ? { url: choice.url, by: '--redis' }
      : redisUrlFromEnv !== undefined
        ? { url: redisUrlFromEnv, by: 'REDIS_URL' }
        : null;
  if (named !== null) {
    if (!(await pingRedis(named.url, 2000))) {
      throw new RedisUnreachableError(
        `${named.by} names a Redis that does not answer PING (${redact(named.url)}); start it, or run the demo without it: --redis off`,
      );
    }
    return confirmNoEviction({
      kind: 'bullmq',
      redisUrl: named.url,
      why: `Redis from ${named.by}`,
      explicit: true,
    });
  }
  const local = new URL(localRedisUrl).host;
  if (await pingRedis(localRedisUrl)) {
    return confirmNoEviction({
      kind: 'bullmq',
      redisUrl: localRedisUrl,
      why: `Redis answering on ${local}`,
      explicit: false,
    });
  }
  return { kind: 'in-process', why: `no REDIS_URL and no Redis on ${local}` };
}

export function redact(url: string): string {
  return redactUrl(url);
}

/**
 * The workers refuse a Redis that may evict keys (they would lose jobs). Found by the probe, such
 * a Redis is not the user's choice: run in-process instead. Named by REDIS_URL or --redis, it
 * is: say why it cannot be used.
 */
async function confirmNoEviction(mode: Extract<QueueMode, { kind: 'bullmq' }>): Promise<QueueMode> {
  const redis = createRedisConnection({
    url: mode.redisUrl,
    role: 'producer',
    connectionName: `birdfeed-demo-probe-${process.pid}`,
  });
  try {
    const check = checkEvictionPolicy(await readEvictionPolicy(redis));
    if (check.ok) return mode;
    if (mode.explicit) throw new RedisPolicyError(check);
    return {
      kind: 'in-process',
      why: `the Redis on ${new URL(mode.redisUrl).host} cannot hold BullMQ queues: ${check.reason}`,
    };
  } finally {
    redis.disconnect();
  }
}
