import { describe, expect, it } from 'vitest';
import { runCli } from './support/run-cli.ts';

/** The commands `birdfeed --help` lists, read from its output as a user would. */
async function listedCommands(): Promise<string[]> {
  const { code, stdout } = await runCli('birdfeed', ['--help'], {});
  expect(code).toBe(0);
  const section = stdout.split('commands:\n')[1] ?? '';
  return [...section.matchAll(/^ {2}([a-z][a-z-]*) /gm)].map((match) => match[1] as string);
}

describe('birdfeed <command> -h / --help', () => {
  it('every listed command prints its usage on stdout and exits 0, with -h as with --help', async () => {
    const commands = await listedCommands();
    expect(commands).toEqual(expect.arrayContaining(['migrate', 'crawl', 'status', 'worker']));
    // No DATABASE_URL, no Redis: asking for help must not open anything.
    const runs = await Promise.all(
      commands.map(async (command) => ({
        command,
        long: await runCli('birdfeed', [command, '--help'], { LOG_LEVEL: 'silent' }),
        short: await runCli('birdfeed', [command, '-h'], { LOG_LEVEL: 'silent' }),
      })),
    );
    for (const { command, long, short } of runs) {
      expect(long.code, `${command} --help: ${long.stderr}`).toBe(0);
      expect(long.stdout, `${command} --help`).toMatch(new RegExp(`usage:\\s+birdfeed ${command}`));
      expect(short.code, `${command} -h: ${short.stderr}`).toBe(0);
      expect(short.stdout, `${command} -h`).toBe(long.stdout);
      expect(short.stderr, `${command} -h`).toBe('');
    }
  });

  it('a subcommand of watchlist takes -h too', async () => {
    const long = await runCli('birdfeed', ['watchlist', 'add', '--help'], {});
    const short = await runCli('birdfeed', ['watchlist', 'add', '-h'], {});
    expect(short.code).toBe(0);
    expect(short.stdout).toBe(long.stdout);
  });
});
