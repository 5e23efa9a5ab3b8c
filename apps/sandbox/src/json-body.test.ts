import { describe, expect, it } from 'vitest';
import { parseJsonKeepingBigIntegers } from './json-body.ts';

describe('parseJsonKeepingBigIntegers', () => {
  it('keeps integers of 16+ digits exact, as strings', () => {
    const body = '{"user_id": 1925089021710983421, "limit": 20}';
    // Plain JSON.parse rounds it to a neighbouring double.
    expect(String(BigInt(JSON.parse(body).user_id))).not.toBe('1925089021710983421');
    expect(parseJsonKeepingBigIntegers(body)).toEqual({
      user_id: '1925089021710983421',
      limit: 20,
    });
    expect(parseJsonKeepingBigIntegers('[-9223372036854775807]')).toEqual(['-9223372036854775807']);
  });

  it('leaves strings, fractions, exponents and short integers alone', () => {
    const body =
      '{"t":"id 1925089021710983421 \\" 1925089021710983421","f":0.12345678901234567,"e":1e300,"n":44196397,"x":12345678901234567e2}';
    expect(parseJsonKeepingBigIntegers(body)).toEqual({
      t: 'id 1925089021710983421 " 1925089021710983421',
      f: Number('0.12345678901234567'),
      e: 1e300,
      n: 44196397,
      x: Number('12345678901234567e2'),
    });
  });

  it('throws SyntaxError on invalid JSON', () => {
    expect(() => parseJsonKeepingBigIntegers('{"user_id": }')).toThrow(SyntaxError);
  });
});
