/**
 * Runs one birdfeed command module the way bin/birdfeed.ts does (import, `main(argv)`, exit
 * code), for tests that spawn the CLI as a child process.
 */
const [name, ...argv] = process.argv.slice(2);
if (name === undefined) throw new Error('usage: crawl-cli.ts <command> [args…]');
const mod = (await import(new URL(`../../bin/commands/${name}.ts`, import.meta.url).href)) as {
  main(args: string[]): Promise<number | undefined>;
};
process.exitCode = (await mod.main(argv)) ?? 0;
