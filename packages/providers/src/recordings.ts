/**
 * Saved provider responses come in several wrappings (see ../../shared/fixtures/real/README.md):
 * tweepy's decoded VCR cassettes, twarc's JSONL (one whole page per line), Postman collections
 * with saved examples, and bare single pages. `readRecordings` unwraps all of them into bodies
 * that `normalizeRaw` takes.
 */
import { parseJsonOrUndefined } from './schema-parse.ts';

export interface Recording {
  /** The response body exactly as the provider sent it (re-serialized for cassettes). */
  body: string;
  status?: number;
  headers?: Record<string, string>;
  /** Where it came from: `file`, `file:line`, or `file#Folder/Request/Example`. */
  label: string;
  /** The request path when the wrapping names it, e.g. `/2/users/:id/tweets`. */
  endpoint?: string;
  /** When the wrapping says the page was fetched (twarc's `__twarc.retrieved_at`). */
  retrievedAt?: Date;
}

// twarc puts `"__twarc": {"url": …, "version": …, "retrieved_at": "2021-10-06T06:02:02+00:00"}`
// at the end of every line; a regex spares parsing a page twice just for it.
const TWARC_RETRIEVED_AT = /"__twarc"\s*:\s*\{[^{}]*"retrieved_at"\s*:\s*"([^"]+)"/;

function twarcRetrievedAt(line: string): Date | undefined {
  const match = TWARC_RETRIEVED_AT.exec(line);
  const at = match?.[1] === undefined ? Number.NaN : Date.parse(match[1]);
  return Number.isNaN(at) ? undefined : new Date(at);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function bodyText(body: unknown): string {
  return typeof body === 'string' ? body : JSON.stringify(body);
}

function pathOf(url: string): string | undefined {
  try {
    return new URL(url).pathname;
  } catch {
    return undefined;
  }
}

function headerRecord(value: unknown): Record<string, string> | undefined {
  if (Array.isArray(value)) {
    // Postman: [{key, value}]
    const out: Record<string, string> = {};
    for (const entry of value) {
      if (isRecord(entry) && typeof entry.key === 'string' && entry.value != null) {
        out[entry.key.toLowerCase()] = String(entry.value);
      }
    }
    return out;
  }
  if (isRecord(value)) {
    const out: Record<string, string> = {};
    for (const [key, field] of Object.entries(value)) {
      if (field != null)
        out[key.toLowerCase()] = Array.isArray(field) ? field.join(', ') : String(field);
    }
    return out;
  }
  return undefined;
}

function isCassette(value: Record<string, unknown>): boolean {
  return 'request' in value && 'body' in value && ('status' in value || 'headers' in value);
}

function isPostmanCollection(value: Record<string, unknown>): boolean {
  return isRecord(value.info) && Array.isArray(value.item);
}

function postmanEndpoint(example: Record<string, unknown>): string | undefined {
  const request = example.originalRequest;
  if (!isRecord(request)) return undefined;
  const url = request.url;
  if (typeof url === 'string') return pathOf(url.replace(/\?.*$/, ''));
  if (isRecord(url) && Array.isArray(url.path)) return `/${url.path.join('/')}`;
  return undefined;
}

function readPostman(collection: Record<string, unknown>, fileName: string): Recording[] {
  const out: Recording[] = [];
  const walk = (items: unknown[], trail: string[]) => {
    for (const item of items) {
      if (!isRecord(item)) continue;
      const here = [...trail, String(item.name ?? '')];
      if (Array.isArray(item.item)) walk(item.item, here);
      if (!Array.isArray(item.response)) continue;
      for (const example of item.response) {
        if (!isRecord(example) || example.body == null) continue;
        const recording: Recording = {
          body: bodyText(example.body),
          label: `${fileName}#${[...here, String(example.name ?? '')].join('/')}`,
        };
        if (typeof example.code === 'number') recording.status = example.code;
        const headers = headerRecord(example.header);
        if (headers !== undefined) recording.headers = headers;
        const endpoint = postmanEndpoint(example);
        if (endpoint !== undefined) recording.endpoint = endpoint;
        out.push(recording);
      }
    }
  };
  walk(collection.item as unknown[], []);
  return out;
}

function readCassette(cassette: Record<string, unknown>, fileName: string): Recording {
  const recording: Recording = { body: bodyText(cassette.body), label: fileName };
  const status = cassette.status;
  if (isRecord(status) && typeof status.code === 'number') recording.status = status.code;
  else if (typeof status === 'number') recording.status = status;
  const headers = headerRecord(cassette.headers);
  if (headers !== undefined) recording.headers = headers;
  const request = cassette.request;
  if (isRecord(request)) {
    const uri = typeof request.uri === 'string' ? request.uri : request.url;
    if (typeof uri === 'string') {
      const endpoint = pathOf(uri);
      if (endpoint !== undefined) recording.endpoint = endpoint;
    }
  }
  return recording;
}

/**
 * Split a saved file into recordings. A file that is not JSON comes back whole as one
 * recording, so normalizing it reports the parse error with the file's label.
 */
export function readRecordings(text: string, fileName: string): Recording[] {
  if (fileName.endsWith('.jsonl') || fileName.endsWith('.ndjson')) {
    const out: Recording[] = [];
    text.split('\n').forEach((line, index) => {
      if (line.trim() === '') return;
      const recording: Recording = { body: line, label: `${fileName}:${index + 1}` };
      const retrievedAt = twarcRetrievedAt(line);
      if (retrievedAt !== undefined) recording.retrievedAt = retrievedAt;
      out.push(recording);
    });
    return out;
  }
  const json = parseJsonOrUndefined(text);
  if (json === undefined) return [{ body: text, label: fileName }];
  if (isRecord(json) && isPostmanCollection(json)) return readPostman(json, fileName);
  if (isRecord(json) && isCassette(json)) return [readCassette(json, fileName)];
  return [{ body: text, label: fileName }];
}
