import { describe, expect, it } from 'vitest';
import { CursorCodec, type CursorPosition } from './cursor-codec.ts';

const position: CursorPosition = {
  provider: 'x',
  accountIndex: 7,
  upper: 1925089021710983421n,
  backwards: false,
  sinceId: 1800000000000000000n,
  page: 3,
  issuedAtMs: 1_767_225_600_000,
};

describe('CursorCodec', () => {
  it('round-trips a position for each provider', () => {
    const codec = new CursorCodec('secret');
    const x = codec.encode(position);
    expect(x).toMatch(/^[a-z2-7]+$/);
    expect(codec.decode(x, 'x')).toEqual(position);
    const agntdata = codec.encode({
      ...position,
      provider: 'agntdata',
      sinceId: null,
      backwards: false,
    });
    expect(agntdata.startsWith('DAAB')).toBe(true);
    expect(codec.decode(agntdata, 'agntdata')).toEqual({
      ...position,
      provider: 'agntdata',
      sinceId: null,
    });
    const back = codec.encode({ ...position, backwards: true });
    expect(codec.decode(back, 'x')?.backwards).toBe(true);
  });

  it('refuses tokens it did not issue, altered or for the other provider', () => {
    const codec = new CursorCodec('secret');
    const token = codec.encode(position);
    expect(new CursorCodec('other').decode(token, 'x')).toBeNull();
    expect(
      codec.decode(`${token.slice(0, 10)}${token[10] === 'a' ? 'b' : 'a'}${token.slice(11)}`, 'x'),
    ).toBeNull();
    expect(codec.decode(token, 'agntdata')).toBeNull();
    expect(codec.decode('', 'x')).toBeNull();
    expect(codec.decode('NOT BASE32!', 'x')).toBeNull();
  });
});
