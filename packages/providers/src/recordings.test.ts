import { describe, expect, it } from 'vitest';
import { readFixture } from '../test/fixtures.ts';
import { readRecordings } from './recordings.ts';

describe('readRecordings', () => {
  it('unwraps a tweepy cassette with its status, headers and endpoint', () => {
    const file = 'x-v2/tweepy/2021-04_test_client_get_users_tweets.json';
    const [recording, ...rest] = readRecordings(readFixture(file), file);
    expect(rest).toEqual([]);
    expect(recording).toMatchObject({
      status: 200,
      label: file,
      endpoint: '/2/users/783214/tweets',
    });
    expect(recording?.headers?.['x-rate-limit-remaining']).toBe('1499');
    expect(JSON.parse(recording!.body).meta.result_count).toBe(10);
  });

  it('splits JSONL into one recording per non-empty line, labelled with the line', () => {
    const recordings = readRecordings('{"meta":{"result_count":0}}\n\n{"data":[]}\n', 'p.jsonl');
    expect(recordings).toEqual([
      { body: '{"meta":{"result_count":0}}', label: 'p.jsonl:1' },
      { body: '{"data":[]}', label: 'p.jsonl:3' },
    ]);
  });

  it("takes a twarc line's fetch time from its __twarc.retrieved_at", () => {
    const file = 'x-v2/tidy_tweet/ObservatoryTeam.jsonl';
    const recordings = readRecordings(readFixture(file), file);
    expect(recordings.map((r) => r.retrievedAt?.toISOString())).toEqual([
      '2021-10-06T06:02:02.000Z',
      '2021-10-06T06:02:04.000Z',
      expect.stringMatching(/^2021-10-06T06:02:0\d\.000Z$/),
    ]);
    const bare = readRecordings('{"data":[],"__twarc":{"retrieved_at":"soon"}}', 'q.jsonl');
    expect(bare[0]?.retrievedAt).toBeUndefined();
  });

  it('keeps a single page byte for byte, and a non-JSON file whole', () => {
    const page = '{ "meta": { "result_count": 0 } }';
    expect(readRecordings(page, 'a.json')).toEqual([{ body: page, label: 'a.json' }]);
    expect(readRecordings('<html>oops', 'b.json')).toEqual([
      { body: '<html>oops', label: 'b.json' },
    ]);
  });

  it('lists the saved examples of a Postman collection', () => {
    const file = 'x-v2/postman/twitter-api-v2.postman_collection.json';
    const recordings = readRecordings(readFixture(file), 'collection.json');
    const notFound = recordings.find((r) =>
      r.label.endsWith('User by ID/200 Success - User Not Found'),
    );
    expect(notFound).toMatchObject({ status: 200, endpoint: '/2/users/:id' });
    expect(notFound?.label).toBe(
      'collection.json#User Lookup/User by ID/200 Success - User Not Found',
    );
    expect(JSON.parse(notFound!.body).errors[0].type).toMatch(/resource-not-found$/);
  });
});
