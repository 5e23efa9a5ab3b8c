import type { Logger } from 'pino';

/**
 * Resolves on the first SIGTERM or SIGINT. The caller then lets the pages in flight finish and
 * closes cleanly; a second signal means "now": the process exits at once (a page cut short is
 * safe, its job is taken again after its lock expires).
 */
export function waitForShutdownSignal(logger: Logger): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received: NodeJS.Signals | null = null;
    const onSignal = (signal: NodeJS.Signals) => {
      if (received !== null) {
        logger.warn({ signal }, 'second signal: exiting without waiting for pages in flight');
        process.exit(130);
      }
      received = signal;
      logger.info({ signal }, 'shutting down: finishing the pages in flight');
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
