import { describe, expect, it } from 'vitest';
import { listFixtureFiles, readFixture } from '../test/fixtures.ts';
import { parseAgntdataMedias } from './agntdata-normalize.ts';
import { agntdataErrorBodySchema, agntdataValidationErrorSchema } from './agntdata-schemas.ts';
import { InvalidResponseError } from './errors.ts';
import { normalizeRaw } from './normalize-raw.ts';
import { readRecordings } from './recordings.ts';
import { formatJsonPath } from './schema-parse.ts';
import { parseXTimeline, parseXUserLookup } from './x-normalize.ts';
import { xErrorBodySchema } from './x-schemas.ts';

const ctx = { userId: '783214', observedAt: new Date('2026-01-01T00:00:00Z') };

function expectInvalid(fn: () => unknown, path: string, rawBody: string): InvalidResponseError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidResponseError);
    const invalid = error as InvalidResponseError;
    expect(invalid.path).toBe(path);
    expect(invalid.message).toContain(path);
    expect(invalid.rawBody).toBe(rawBody);
    return invalid;
  }
  throw new Error('expected an InvalidResponseError');
}

describe('every real fixture is accepted', () => {
  const files = listFixtureFiles();

  it('finds the fixture files', () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
  });

  for (const file of files.filter((name) => !name.includes('postman'))) {
    it(file, () => {
      const recordings = readRecordings(readFixture(file), file);
      expect(recordings.length).toBeGreaterThan(0);
      for (const recording of recordings) {
        if (file.includes('validation_error_422')) {
          expect(agntdataValidationErrorSchema.safeParse(JSON.parse(recording.body)).success).toBe(
            true,
          );
          continue;
        }
        const provider = file.startsWith('agntdata/') ? 'agntdata' : 'x';
        const page = normalizeRaw(provider, recording.body, ctx);
        expect(page.provider).toBe(provider);
        expect(page.tweets.length + page.users.length + page.resultCount).toBeGreaterThanOrEqual(
          page.resultCount === 0 ? 0 : 1,
        );
      }
    });
  }
});

describe('the postman collection examples', () => {
  const file = 'x-v2/postman/twitter-api-v2.postman_collection.json';
  const recordings = readRecordings(readFixture(file), file);
  // Spaces examples are Postman's generated placeholders ("id": "", "<string>"), and stream
  // rules are not tweets: neither is a body birdfeed ever fetches.
  const tweetOrUser = recordings.filter(
    (r) => !/\/spaces|\/stream\/rules/.test(r.endpoint ?? '') && (r.status ?? 200) < 300,
  );
  const errors = recordings.filter((r) => (r.status ?? 200) >= 400 && r.status !== 500);

  it('has the saved examples with status, headers and endpoint', () => {
    expect(recordings.length).toBe(75);
    const rateLimited = recordings.filter((r) => r.status === 429);
    expect(rateLimited.length).toBeGreaterThanOrEqual(5);
    expect(rateLimited[0]?.headers?.['x-rate-limit-reset']).toMatch(/^\d+$/);
    expect(tweetOrUser.length).toBe(34);
  });

  it('parses every successful tweet and user example as a page', () => {
    for (const recording of tweetOrUser) {
      const json = JSON.parse(recording.body) as Record<string, unknown>;
      const page = normalizeRaw('x', recording.body, ctx);
      if (json.data === undefined) {
        // 200 "not found": errors only, kept as partial errors.
        expect(page.partialErrors.length, recording.label).toBeGreaterThan(0);
        expect(xErrorBodySchema.safeParse(json).success, recording.label).toBe(true);
      } else {
        expect(page.tweets.length + page.users.length, recording.label).toBeGreaterThan(0);
      }
      // A link always has its media row, even when the media was not expanded (a user
      // lookup's pinned tweet with media_keys but no includes.media).
      const mediaKeys = new Set(page.media.map((m) => m.mediaKey));
      for (const link of page.tweetMedia) {
        expect(mediaKeys.has(link.mediaKey), `${recording.label}: ${link.mediaKey}`).toBe(true);
      }
    }
  });

  it('parses every 4xx example as an X error body (429 plain text excepted)', () => {
    expect(errors.map((r) => r.status).sort()).toEqual(
      expect.arrayContaining([400, 401, 403, 429]),
    );
    for (const recording of errors) {
      if (recording.headers?.['content-type']?.startsWith('text/plain')) {
        expect(recording.status, recording.label).toBe(429);
        expect(recording.body.trim()).toBe('Rate limit exceeded');
        continue;
      }
      const result = xErrorBodySchema.safeParse(JSON.parse(recording.body));
      expect(result.success, recording.label).toBe(true);
    }
  });
});

describe('agntdata error bodies', () => {
  it('accepts {success:false, error:{code,message,retryAfter}}', () => {
    const body = {
      success: false,
      error: { code: 'RATE_LIMITED', message: 'slow', retryAfter: 30 },
    };
    expect(agntdataErrorBodySchema.parse(body).error.retryAfter).toBe(30);
  });

  it('accepts the documented 422', () => {
    const body = JSON.parse(readFixture('agntdata/validation_error_422_docs_example.json'));
    expect(agntdataValidationErrorSchema.safeParse(body).success).toBe(true);
  });
});

describe('malformed bodies are rejected with the JSON path and the raw body', () => {
  const page = JSON.parse(
    readRecordings(readFixture('x-v2/tidy_tweet/ObservatoryTeam.jsonl'), 'x.jsonl')[0]!.body,
  ) as {
    data: Array<Record<string, unknown>>;
    includes: { users: Array<Record<string, unknown>> };
  };

  it('names data[3].author_id for a non-decimal author id', () => {
    page.data[3]!.author_id = '12ab';
    const raw = JSON.stringify(page);
    expectInvalid(() => parseXTimeline(raw), 'data[3].author_id', raw);
    expectInvalid(() => normalizeRaw('x', raw, ctx), 'data[3].author_id', raw);
  });

  it('rejects an id given as a JSON number', () => {
    const raw = '{"data":[{"id":1380306486962782208,"text":"x"}]}';
    expectInvalid(() => parseXTimeline(raw), 'data[0].id', raw);
  });

  it('rejects a count given as a string', () => {
    const raw = JSON.stringify({
      data: [{ id: '1', text: 'a', public_metrics: { like_count: '3' } }],
    });
    expectInvalid(() => parseXTimeline(raw), 'data[0].public_metrics.like_count', raw);
  });

  it('names includes.users[0].id in a user', () => {
    const raw = JSON.stringify({ data: [], includes: { users: [{ id: '-5', username: 'a' }] } });
    expectInvalid(() => parseXTimeline(raw), 'includes.users[0].id', raw);
  });

  it('rejects a user lookup with a bad id', () => {
    const raw = '{"data":{"id":"abc","username":"a","name":"b"}}';
    expectInvalid(() => parseXUserLookup(raw), 'data.id', raw);
    expectInvalid(() => normalizeRaw('x', raw, ctx), 'data.id', raw);
  });

  it('reports a body that is not JSON at $', () => {
    const raw = '{"data": [';
    expectInvalid(() => normalizeRaw('x', raw, ctx), '$', raw);
    expectInvalid(() => normalizeRaw('agntdata', raw, ctx), '$', raw);
  });

  it('names the bad face of an agntdata photo', () => {
    const body = JSON.parse(readFixture('agntdata/user_medias_docs_example.json'));
    body.results[1].extended_entities.media[0].features.small.faces[2].w = 'wide';
    const raw = JSON.stringify(body);
    expectInvalid(
      () => parseAgntdataMedias(raw),
      'results[1].extended_entities.media[0].features.small.faces[2].w',
      raw,
    );
  });

  it('names the bad date and the bad id inside the envelope', () => {
    const body = JSON.parse(readFixture('agntdata/user_medias_docs_example.json'));
    body.results[2].creation_date = '2025-05-21';
    const raw = JSON.stringify({ success: true, data: body, meta: { costCents: 1 } });
    expectInvalid(() => parseAgntdataMedias(raw), 'data.results[2].creation_date', raw);
    body.results[2].creation_date = 'Wed May 21 07:19:23 +0000 2025';
    body.results[0].user.user_id = '44196397.5';
    const raw2 = JSON.stringify(body);
    expectInvalid(() => normalizeRaw('agntdata', raw2, ctx), 'results[0].user.user_id', raw2);
  });

  it('rejects an agntdata body without results', () => {
    const raw = '{"continuation_token":"x"}';
    expectInvalid(() => parseAgntdataMedias(raw), 'results', raw);
  });
});

describe('formatJsonPath', () => {
  it('formats keys, indexes and odd keys', () => {
    expect(formatJsonPath([])).toBe('$');
    expect(formatJsonPath(['data', 3, 'author_id'])).toBe('data[3].author_id');
    expect(formatJsonPath(['a-b', 0])).toBe('["a-b"][0]');
  });
});
