import { describe, expect, it } from 'vitest';
import { readFixture } from '../test/fixtures.ts';
import { agntdataErrorFor } from './agntdata-errors.ts';
import {
  AccountUnavailableError,
  InvalidCursorError,
  OutOfCreditsError,
  RateLimitedError,
  TransientError,
  UnauthorizedError,
} from './errors.ts';
import { accountProblem, xErrorForStatus } from './x-errors.ts';

const scrub = (text: string) => text;
const xCtx = { userId: '42', endpoint: '/2/users/:id/tweets', scrub };
const aCtx = { userId: '42', endpoint: '/user/medias', scrub };

describe('X problem types', () => {
  it('are the ones the OpenAPI spec defines', () => {
    const spec = JSON.parse(readFixture('x-v2/openapi/x-api-v2-openapi-2.167.json'));
    const mapping = Object.keys(spec.components.schemas.Problem.discriminator.mapping);
    for (const name of [
      'resource-not-found',
      'resource-unavailable',
      'not-authorized-for-resource',
    ]) {
      expect(mapping).toContain(`https://api.x.com/2/problems/${name}`);
    }
  });

  it('only a problem about the watched user makes it unavailable', () => {
    const notFound = {
      type: 'https://api.twitter.com/2/problems/resource-not-found',
      resource_type: 'user',
      value: '42',
      detail: 'Could not find user with id: [42].',
    };
    expect(accountProblem([notFound], '42')?.reason).toBe('not_found');
    expect(accountProblem([{ ...notFound, value: '7' }], '42')).toBeUndefined();
    expect(accountProblem([{ ...notFound, resource_type: 'tweet' }], '42')).toBeUndefined();
    // The app's own enrolment problem is about the credential.
    const forbidden = JSON.parse(
      '{"title":"Client Forbidden","detail":"This request must be made using an approved developer account","reason":"client-not-enrolled","type":"https://api.twitter.com/2/problems/client-forbidden"}',
    );
    expect(accountProblem([forbidden], '42')).toBeUndefined();
    expect(xErrorForStatus(403, {}, JSON.stringify(forbidden), xCtx)).toBeInstanceOf(
      UnauthorizedError,
    );
  });

  it('maps statuses', () => {
    expect(xErrorForStatus(429, {}, 'Rate limit exceeded\n', xCtx)).toBeInstanceOf(
      RateLimitedError,
    );
    expect(xErrorForStatus(500, {}, '', xCtx)).toBeInstanceOf(TransientError);
    expect(xErrorForStatus(402, {}, '{}', xCtx)).toBeInstanceOf(OutOfCreditsError);
    const cursor =
      '{"errors":[{"parameter":"pagination_token","message":"bad"}],"title":"Invalid Request"}';
    expect(xErrorForStatus(400, {}, cursor, xCtx)).toBeInstanceOf(InvalidCursorError);
  });
});

describe('agntdata error codes', () => {
  const body = (code: string, message: string) =>
    JSON.stringify({ success: false, error: { code, message } });

  it('reads the account codes', () => {
    const cases: Array<[number, string, string, string]> = [
      [404, 'USER_NOT_FOUND', 'User 42 not found', 'not_found'],
      [403, 'USER_SUSPENDED', 'User 42 is suspended', 'suspended'],
      [403, 'USER_PROTECTED', 'User 42 is protected', 'protected'],
    ];
    for (const [status, code, message, reason] of cases) {
      const error = agntdataErrorFor(status, {}, body(code, message), aCtx);
      expect(error, code).toBeInstanceOf(AccountUnavailableError);
      expect((error as AccountUnavailableError).reason).toBe(reason);
    }
  });

  it('a 403 that does not name the user is about our key', () => {
    expect(agntdataErrorFor(403, {}, body('FORBIDDEN', 'account suspended'), aCtx)).toBeInstanceOf(
      UnauthorizedError,
    );
  });

  it('reads the cursor and credit codes', () => {
    expect(
      agntdataErrorFor(400, {}, body('INVALID_CONTINUATION_TOKEN', 'expired'), aCtx),
    ).toBeInstanceOf(InvalidCursorError);
    expect(
      agntdataErrorFor(400, {}, body('INSUFFICIENT_CREDITS', 'balance 0'), aCtx),
    ).toBeInstanceOf(OutOfCreditsError);
  });
});
