import { describe, expect, it } from 'vitest';
import { compareIds, isSnowflakeId, MAX_BIGINT, snowflakeIdProblem } from './index.ts';

describe('isSnowflakeId', () => {
  it('takes canonical decimals up to the largest bigint', () => {
    for (const id of ['0', '1', '20', '1234567890123456789', MAX_BIGINT.toString()]) {
      expect(isSnowflakeId(id), id).toBe(true);
    }
  });

  it('refuses what Postgres could not store or what is not canonical', () => {
    for (const id of [
      '',
      '-1',
      '01',
      '1.0',
      ' 1',
      '9223372036854775808',
      '9999999999999999999',
      '10000000000000000000',
      '１２',
    ]) {
      expect(isSnowflakeId(id), id).toBe(false);
    }
  });
});

describe('snowflakeIdProblem', () => {
  it('names the one thing wrong with an id', () => {
    expect(snowflakeIdProblem('007')).toBe('has a leading zero');
    expect(snowflakeIdProblem('0012345')).toBe('has a leading zero');
    expect(snowflakeIdProblem('9223372036854775808')).toBe(
      'is larger than 9223372036854775807, the largest bigint (int64)',
    );
    expect(snowflakeIdProblem('10000000000000000000')).toMatch(/^is larger than/);
    for (const id of ['', 'jack', '@jack', '-1', '1.0', ' 1', '1e3', '１２']) {
      expect(snowflakeIdProblem(id), id).toBe('is not a decimal number (digits 0-9 only)');
    }
  });

  it('has nothing to say about an id isSnowflakeId takes', () => {
    for (const id of ['0', '1', '2244994945', MAX_BIGINT.toString()]) {
      expect(snowflakeIdProblem(id), id).toBeUndefined();
    }
  });
});

describe('compareIds', () => {
  it('orders by numeric value, across lengths and above 2^53', () => {
    const ids = ['9007199254740993', '9007199254740992', '10', '9', '0', MAX_BIGINT.toString()];
    const sorted = [...ids].sort(compareIds);
    expect(sorted).toEqual([...ids].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)));
    expect(compareIds('5', '5')).toBe(0);
  });

  it('still orders ids with leading zeros numerically', () => {
    expect(compareIds('010', '9')).toBe(1);
    expect(compareIds('007', '7')).toBe(0);
  });
});
