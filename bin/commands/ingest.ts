import {
  type BirdfeedDb,
  type BirdfeedTx,
  emptyUpsertCounts,
  migrate,
  type UpsertCounts,
  type UpsertResult,
  upsertPage,
} from '@birdfeed/db';
import { openCommandDatabase } from './database-options.ts';
import { type NormalizedFile, normalizeRecordingFile, parseRecordingArgs } from './normalize.ts';

const USAGE = `usage: birdfeed ingest --provider x|agntdata [--user-id ID] [--observed-at ISO] FILE...

Normalizes saved provider responses (as \`birdfeed normalize\` does) and upserts them into
DATABASE_URL, or the embedded PGlite database under .birdfeed/pgdata when it is unset,
applying pending migrations first (as \`birdfeed migrate\` does). Prints what it wrote per
table. Every recording of a file is validated before any is written, and a file is written in
one transaction: a bad file (not JSON, wrong shape, a non-decimal id) writes nothing, is
reported with the file, the recording and the JSON path, and makes the command exit 1. The
other files are still ingested.
`;

const TABLE_LINES: [string, (t: UpsertCounts) => string][] = [
  ['tweets', (t) => `${t.tweetsNew} new, ${t.tweetsUpdated} updated`],
  ['users', (t) => `${t.usersNew} new, ${t.users - t.usersNew} updated`],
  ['media', (t) => `${t.mediaNew} new, ${t.media - t.mediaNew} updated`],
  ['tweet_media', (t) => `${t.tweetMedia} written`],
  ['tweet_references', (t) => `${t.tweetReferences} written`],
  ['media_faces', (t) => `${t.faces} written, ${t.facesRemoved} removed`],
  ['media_focus_rects', (t) => `${t.focusRects} written, ${t.focusRectsRemoved} removed`],
  ['tweet_metrics', (t) => `${t.tweetMetrics} observations`],
  ['user_metrics', (t) => `${t.userMetrics} observations`],
];

function add(into: UpsertCounts, result: UpsertResult): void {
  for (const key of Object.keys(into) as (keyof UpsertCounts)[]) into[key] += result[key];
}

function describeTotals(totals: UpsertCounts): string {
  return TABLE_LINES.map(([table, line]) => `  ${table.padEnd(18)} ${line(totals)}`).join('\n');
}

/** One file in one transaction: its pages commit together or not at all. */
async function writeFile(db: BirdfeedDb, normalized: NormalizedFile): Promise<UpsertCounts> {
  const totals = emptyUpsertCounts();
  await db.transaction(async (tx: BirdfeedTx) => {
    for (const { page } of normalized.pages) add(totals, await upsertPage(tx, page));
  });
  return totals;
}

export async function main(argv: string[]): Promise<number> {
  const args = parseRecordingArgs(argv);
  if (typeof args === 'string') {
    if (args === '') {
      process.stdout.write(USAGE);
      return 0;
    }
    process.stderr.write(`ingest: ${args}\n\n${USAGE}`);
    return 2;
  }
  const opened = await openCommandDatabase('ingest');
  if (typeof opened === 'number') return opened;
  const { database, description } = opened;
  let failed = 0;
  const grand = emptyUpsertCounts();
  try {
    const migrated = await migrate(database.db);
    if (migrated.applied.length > 0) {
      process.stdout.write(`ingest: migrated ${description} (${migrated.applied.join(', ')})\n`);
    }
    for (const file of args.files) {
      let normalized: NormalizedFile;
      try {
        normalized = await normalizeRecordingFile(args, file);
      } catch (error) {
        failed += 1;
        process.stderr.write(
          `ingest: ${error instanceof Error ? error.message : String(error)} — nothing written for this file\n`,
        );
        continue;
      }
      for (const skipped of normalized.skipped) {
        process.stderr.write(`ingest: ${file}: skipped ${skipped.label}: ${skipped.reason}\n`);
      }
      let totals: UpsertCounts;
      try {
        totals = await writeFile(database.db, normalized);
      } catch (error) {
        // Postgres refused a value (the file's transaction rolled back): name the file, go on.
        failed += 1;
        process.stderr.write(
          `ingest: ${file}: ${error instanceof Error ? error.message : String(error)} — nothing written for this file\n`,
        );
        continue;
      }
      add(grand, { ...totals, rawPageId: null });
      const summary = `${file}: ${normalized.pages.length} page(s), ${normalized.skipped.length} skipped`;
      process.stdout.write(
        normalized.pages.length > 0 ? `${summary}\n${describeTotals(totals)}\n` : `${summary}\n`,
      );
    }
    if (args.files.length > 1) {
      process.stdout.write(`total (${description}):\n${describeTotals(grand)}\n`);
    }
  } finally {
    await database.close();
  }
  return failed === 0 ? 0 : 1;
}
