import { constants } from 'node:buffer';
import { readFile, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { InvalidPageError, pageRows } from '@birdfeed/db';
import { type CanonicalPage, PROVIDER_NAMES, type ProviderName } from '@birdfeed/model';
import {
  InvalidResponseError,
  normalizeRaw,
  parseAgntdataErrorBody,
  parseXErrorBody,
  type Recording,
  readRecordings,
} from '@birdfeed/providers';
import { parseCommandArgs, parseTimestampFlag, userIdProblem } from './command-args.ts';

const USAGE = `usage: birdfeed normalize --provider x|agntdata [--user-id ID] [--observed-at ISO] [--pretty] FILE...

Prints the canonical page of every recording in the files (tweepy cassettes, JSONL pages,
Postman collections, single bodies) as JSON, one page per recording and line (ids as
strings). Recordings that are not timeline pages (error statuses, error bodies, other
endpoints) are listed on stderr as skipped. A file with a bad recording exits 1, naming the
file, the recording and the JSON path.

  --user-id ID       the timeline owner (default: the author of the page's first own tweet;
                     null for a page that names nobody)
  --observed-at ISO  when the pages were fetched, with date, time and zone
                     (2026-06-01T12:00:00Z, 2026-06-01T14:00:00+02:00); default: the
                     recording's Date header (or twarc's retrieved_at), else the file's
                     modification time, so re-reading a file is the same observation;
                     never in the future (it would outrank every later fetch)
  --pretty           indent the JSON
`;

/** Endpoints whose bodies have the tweets/users shape `normalizeRaw` reads. */
const TIMELINE_ENDPOINT =
  /^\/2\/(users\/[^/]+\/(tweets|mentions|liked_tweets|timelines\/reverse_chronological)|lists\/[^/]+\/tweets|tweets|tweets\/search\/(recent|all)|tweets\/[^/]+|users|users\/by|users\/by\/username\/[^/]+|users\/[^/]+)$/;

export interface NormalizedRecording {
  label: string;
  page: CanonicalPage;
  /**
   * No --user-id, and the page names nobody (an empty timeline page): `page.userId` is a
   * placeholder, printed as null. Nothing `ingest` writes uses the owner.
   */
  ownerUnknown?: true;
}

export interface SkippedRecording {
  label: string;
  reason: string;
}

export interface NormalizedFile {
  file: string;
  pages: NormalizedRecording[];
  skipped: SkippedRecording[];
}

/** A recording of a file that cannot be used: the whole file is refused. */
export class RecordingFileError extends Error {
  override readonly name = 'RecordingFileError';
  constructor(
    readonly file: string,
    readonly label: string,
    /** JSON path in the body (`$.data[0].id`), or the canonical page path for a bad row. */
    readonly path: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    // A bare body's label is its file's name, and a provider's validation error names the path
    // itself: neither is said twice.
    const recording = label === basename(file) ? '' : ` ${label}:`;
    const where = reason.includes(` at ${path}`) ? '' : ` invalid at ${path}:`;
    super(`${file}:${recording}${where} ${reason}`, options);
  }
}

export interface NormalizeFileOptions {
  /** The timeline owner; by default the author of the page's first own tweet. */
  userId?: string | undefined;
  /** By default the recording's Date header, else its twarc retrieved_at, else `savedAt`. */
  observedAt?: Date | undefined;
  /**
   * When the file was saved (its mtime): the observation time of recordings without a Date
   * header. A fixed time per file makes re-ingesting it a no-op, where "now" would make every
   * run a new observation of the same counts.
   */
  savedAt?: Date | undefined;
}

const OPENAPI_DOCUMENT = /^\s*\{\s*"(openapi|swagger)"\s*:/;

function skipReason(provider: ProviderName, recording: Recording): string | undefined {
  if (recording.status !== undefined && (recording.status < 200 || recording.status > 299)) {
    return `HTTP status ${recording.status}`;
  }
  // The API's own description (the X OpenAPI spec sits among the real fixtures) is no response.
  if (OPENAPI_DOCUMENT.test(recording.body)) return 'an OpenAPI document, not a saved response';
  if (recording.endpoint !== undefined && provider === 'x') {
    if (!TIMELINE_ENDPOINT.test(recording.endpoint)) {
      return `not a timeline endpoint (${recording.endpoint})`;
    }
  }
  return undefined;
}

function isErrorBody(provider: ProviderName, body: string): boolean {
  if (provider === 'agntdata') return parseAgntdataErrorBody(body) !== undefined;
  const parsed = parseXErrorBody(body);
  return parsed !== undefined && !/"data"\s*:/.test(body);
}

/** X's first tweet; nothing was observed before it. */
const FIRST_OBSERVABLE = Date.parse('2006-03-21T00:00:00Z');
/** Clocks disagree a little; a day more than that is a wrong time, not skew. */
const FUTURE_SKEW_MS = 86_400_000;

/**
 * Why `at` cannot be when a page was fetched, or undefined. A page observed in the future
 * would win every later comparison (the newest observation's metrics win): its counts would
 * stay in the tables for good.
 */
export function outsideObservable(at: Date, now = Date.now()): string | undefined {
  if (at.getTime() < FIRST_OBSERVABLE) return 'before the first tweet (2006-03-21)';
  if (at.getTime() > now + FUTURE_SKEW_MS) return 'in the future';
  return undefined;
}

/** A body of the other provider's shape, read with the wrong --provider: say which to use. */
function otherProviderHint(provider: ProviderName, body: string): string {
  const head = body.slice(0, 4_096);
  if (
    provider === 'agntdata' &&
    /"(data|includes|meta)"\s*:/.test(head) &&
    !/"results"\s*:/.test(head)
  ) {
    return ' (this looks like an X API response: try --provider x)';
  }
  if (provider === 'x' && /"results"\s*:/.test(head) && !/"data"\s*:/.test(head)) {
    return ' (this looks like an agntdata response: try --provider agntdata)';
  }
  return '';
}

function observedAtOf(file: string, recording: Recording, options: NormalizeFileOptions): Date {
  if (options.observedAt !== undefined) return options.observedAt;
  const header = recording.headers?.date;
  const parsed = header === undefined ? Number.NaN : Date.parse(header);
  if (!Number.isNaN(parsed))
    return checkedObservation(file, recording, `Date header ${header}`, parsed);
  // The file's modification time is when it was saved, which may be years after the fetch.
  if (recording.retrievedAt !== undefined) {
    const at = recording.retrievedAt;
    return checkedObservation(
      file,
      recording,
      `twarc retrieved_at ${at.toISOString()}`,
      at.getTime(),
    );
  }
  if (options.savedAt !== undefined) {
    const at = options.savedAt;
    return checkedObservation(
      file,
      recording,
      `file's modification time ${at.toISOString()}`,
      at.getTime(),
    );
  }
  return new Date();
}

function checkedObservation(file: string, recording: Recording, what: string, at: number): Date {
  const outside = outsideObservable(new Date(at));
  if (outside !== undefined) {
    throw new ObservationTimeError(
      `${file}: ${recording.label}: its ${what} is ${outside}; pass --observed-at with when it was fetched`,
    );
  }
  return new Date(at);
}

class ObservationTimeError extends Error {
  override readonly name = 'ObservationTimeError';
}

/** The account a saved page belongs to, when the caller did not say. */
function ownerOf(page: CanonicalPage): string | undefined {
  const own = page.tweets.find((tweet) => tweet.fromTimeline && tweet.authorId !== undefined);
  return own?.authorId ?? page.users[0]?.id;
}

const UNKNOWN_OWNER = '0';

/**
 * Reads and normalizes every recording of one file, and validates each page as the database
 * will write it, before anything is written: a file is used whole or not at all.
 */
export function normalizeFile(
  provider: ProviderName,
  file: string,
  text: string,
  options: NormalizeFileOptions = {},
): NormalizedFile {
  const result: NormalizedFile = { file, pages: [], skipped: [] };
  for (const recording of readRecordings(text, basename(file))) {
    const reason = skipReason(provider, recording);
    if (reason !== undefined) {
      result.skipped.push({ label: recording.label, reason });
      continue;
    }
    let page: CanonicalPage;
    try {
      page = normalizeRaw(provider, recording.body, {
        userId: options.userId ?? UNKNOWN_OWNER,
        observedAt: observedAtOf(file, recording, options),
      });
    } catch (error) {
      if (error instanceof InvalidResponseError) {
        if (isErrorBody(provider, recording.body)) {
          result.skipped.push({ label: recording.label, reason: 'a provider error body' });
          continue;
        }
        throw new RecordingFileError(
          file,
          recording.label,
          error.path,
          `${error.message}${otherProviderHint(provider, recording.body)}`,
          { cause: error },
        );
      }
      throw error;
    }
    // X answers a missing or suspended account with a 200 that carries only `errors`.
    if (
      page.tweets.length === 0 &&
      page.users.length === 0 &&
      isErrorBody(provider, recording.body)
    ) {
      result.skipped.push({ label: recording.label, reason: 'a provider error body' });
      continue;
    }
    const owner = options.userId ?? ownerOf(page);
    if (owner !== undefined) page.userId = owner;
    try {
      pageRows(page);
    } catch (error) {
      if (error instanceof InvalidPageError) {
        throw new RecordingFileError(file, recording.label, error.path, error.message, {
          cause: error,
        });
      }
      throw error;
    }
    result.pages.push(
      owner === undefined
        ? { label: recording.label, page, ownerUnknown: true }
        : { label: recording.label, page },
    );
  }
  return result;
}

/** A file that could not be read at all: says which and why in a user's words. */
export class UnreadableFileError extends Error {
  override readonly name = 'UnreadableFileError';
  constructor(
    readonly file: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${reason}`, options);
  }
}

const READ_ERRORS: Record<string, (file: string) => string> = {
  EISDIR: (file) => `is a directory (pass the files in it, e.g. ${file.replace(/\/+$/, '')}/*)`,
  ENOENT: () => 'no such file',
  EACCES: () => 'permission denied',
};

/**
 * Reads and normalizes one file named on the command line (`normalize`, `ingest`). Node's own
 * messages for a directory ("EISDIR: illegal operation on a directory, read") do not say which
 * argument was wrong.
 */
export async function normalizeRecordingFile(
  args: RecordingArgs,
  file: string,
): Promise<NormalizedFile> {
  let text: string;
  let savedAt: Date;
  // `pnpm birdfeed` runs in the workspace root whatever directory it was typed in; pnpm passes
  // that directory as INIT_CWD, and a relative path means a file there.
  const path = resolve(process.env.INIT_CWD ?? process.cwd(), file);
  try {
    const stats = await stat(path);
    savedAt = stats.mtime;
    // Past this Node cannot hold the file as one string ("Invalid string length").
    if (stats.isFile() && stats.size > constants.MAX_STRING_LENGTH) {
      throw new UnreadableFileError(
        file,
        `too large to read at once (${Math.round(stats.size / 1_048_576)} MiB; at most ${Math.floor(constants.MAX_STRING_LENGTH / 1_048_576)} MiB): split it, e.g. split -l 10000 ${file} part- for a JSONL file`,
      );
    }
    // A byte-order mark (Windows editors save one) is no part of the JSON.
    text = (await readFile(path, 'utf8')).replace(/^\uFEFF/, '');
  } catch (error) {
    if (error instanceof UnreadableFileError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const reason = READ_ERRORS[code]?.(file) ?? (error as Error).message;
    throw new UnreadableFileError(file, reason, { cause: error });
  }
  return normalizeFile(args.provider, file, text, { ...args.options, savedAt });
}

export interface RecordingArgs {
  provider: ProviderName;
  files: string[];
  options: NormalizeFileOptions;
  values: Record<string, string | boolean | undefined>;
}

/** Shared flags of `normalize` and `ingest`; returns a usage error string when wrong. */
export function parseRecordingArgs(
  argv: string[],
  extra: Record<string, { type: 'boolean' | 'string' }> = {},
): RecordingArgs | string {
  let parsed: ReturnType<typeof parseCommandArgs>;
  try {
    parsed = parseCommandArgs({
      args: argv,
      allowPositionals: true,
      options: {
        provider: { type: 'string', short: 'p' },
        'user-id': { type: 'string' },
        'observed-at': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        ...extra,
      },
    });
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help === true) return '';
  const provider = values.provider;
  if (typeof provider !== 'string' || !PROVIDER_NAMES.includes(provider as ProviderName)) {
    return `--provider must be one of ${PROVIDER_NAMES.join(', ')}`;
  }
  if (parsed.positionals.length === 0) return 'no FILE given';
  const userId = values['user-id'];
  const userIdReason = typeof userId === 'string' ? userIdProblem(userId) : undefined;
  if (userIdReason !== undefined) return `--user-id ${JSON.stringify(userId)}: ${userIdReason}`;
  const observedAtText = values['observed-at'];
  let observedAt: Date | undefined;
  if (typeof observedAtText === 'string') {
    try {
      observedAt = parseTimestampFlag('observed-at', observedAtText);
    } catch (error) {
      return (error as Error).message;
    }
    const outside = outsideObservable(observedAt);
    if (outside !== undefined) return `--observed-at ${observedAtText}: ${outside}`;
  }
  return {
    provider: provider as ProviderName,
    files: parsed.positionals,
    options: { userId: typeof userId === 'string' ? userId : undefined, observedAt },
    values,
  };
}

export async function main(argv: string[]): Promise<number> {
  const args = parseRecordingArgs(argv, { pretty: { type: 'boolean' } });
  if (typeof args === 'string') {
    if (args === '') {
      process.stdout.write(USAGE);
      return 0;
    }
    process.stderr.write(`normalize: ${args}\n\n${USAGE}`);
    return 2;
  }
  let failed = 0;
  for (const file of args.files) {
    try {
      const normalized = await normalizeRecordingFile(args, file);
      for (const { page, ownerUnknown } of normalized.pages) {
        const printed = ownerUnknown === true ? { ...page, userId: null } : page;
        process.stdout.write(
          `${JSON.stringify(printed, null, args.values.pretty ? 2 : undefined)}\n`,
        );
      }
      for (const skipped of normalized.skipped) {
        process.stderr.write(`normalize: ${file}: skipped ${skipped.label}: ${skipped.reason}\n`);
      }
    } catch (error) {
      failed += 1;
      process.stderr.write(
        `normalize: ${error instanceof Error ? error.message : String(error)}\n`,
      );
    }
  }
  return failed === 0 ? 0 : 1;
}
