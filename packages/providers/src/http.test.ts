import { describe, expect, it } from 'vitest';
import { createScrubber, safeUrl } from './http.ts';

describe('secret hygiene helpers', () => {
  it('scrubs every occurrence of every secret, and ignores trivially short ones', () => {
    const scrub = createScrubber(['tok-123456', 'key-abcdef', 'ab']);
    expect(scrub('a tok-123456 b tok-123456 c key-abcdef ab')).toBe(
      'a [REDACTED] b [REDACTED] c [REDACTED] ab',
    );
    expect(scrub('nothing here')).toBe('nothing here');
  });

  it('drops userinfo from a URL and keeps the rest', () => {
    const url = new URL('https://user:secret-pass@api.example.com/2/users/1/tweets?max_results=5');
    expect(safeUrl(url)).toBe('https://api.example.com/2/users/1/tweets?max_results=5');
    expect(url.password).toBe('secret-pass');
  });
});
