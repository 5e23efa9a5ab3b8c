import { startSandbox } from '../src/index.ts';

/**
 * The sandbox under benchmark, in a process of its own so the load generator does not share
 * its event loop. Forked with IPC: sends {url} when listening, answers 'cpu' with its CPU
 * time so far (so the benchmark can report CPU per page, which other load on the machine does
 * not distort), stops on 'stop'.
 */
const sandbox = await startSandbox({
  seed: 'bench',
  accounts: 200,
  tweetsPerAccount: 500,
  specialAccounts: false,
  frozen: true,
  // The benchmark measures serving, not the rate limiter or short pages.
  xRateLimit: 1_000_000_000,
  agntdataRequestsPerMinute: 1_000_000_000,
  shortPageRate: 0,
  emptyPageRate: 0,
});
process.send?.({ url: sandbox.url });
process.on('message', (message) => {
  if (message === 'cpu') process.send?.({ cpu: process.cpuUsage() });
  if (message === 'stop') void sandbox.stop().then(() => process.exit(0));
});
