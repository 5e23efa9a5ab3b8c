import { describe, expect, it } from 'vitest';
import { createScrubber, redactCredentials, safeUrl } from './http.ts';

describe('secret hygiene helpers', () => {
  it('scrubs every occurrence of every secret, and ignores trivially short ones', () => {
    const scrub = createScrubber(['tok-123456', 'key-abcdef', 'ab']);
    expect(scrub('a tok-123456 b tok-123456 c key-abcdef ab')).toBe(
      'a [REDACTED] b [REDACTED] c [REDACTED] ab',
    );
    expect(scrub('nothing here')).toBe('nothing here');
  });

  it('scrubs the forms a server echoes a secret in: JSON-escaped, \\/ for /, %-encoded, %-decoded', () => {
    const token = 'AAAA/SECRET+bearer%3DZz=';
    const scrub = createScrubber([token]);
    const echoes = [
      token,
      'AAAA\\/SECRET+bearer%3DZz=',
      'AAAA%2FSECRET%2Bbearer%253DZz%3D',
      'AAAA%2fSECRET%2bbearer%253DZz%3d',
      'AAAA/SECRET+bearer=Zz=',
    ];
    for (const echo of echoes) {
      const out = scrub(`{"received":"Bearer ${echo}","n":1}`);
      expect(out).toBe('{"received":"Bearer [REDACTED]","n":1}');
      expect(out).not.toContain('SECRET');
    }
  });

  it("redacts a secret's beginning where a cut-off text ends, not a shorter coincidence", () => {
    const scrub = createScrubber(['sk_live_Q9fSECRETb64Zz']);
    expect(scrub('{"echo":"Bearer sk_live_Q9fSEC')).toBe('{"echo":"Bearer [REDACTED]');
    expect(scrub('{"echo":"sk_live')).toBe('{"echo":"sk_live');
    expect(scrub('{"data":[]}')).toBe('{"data":[]}');
    // A token's leading run of one character is no secret: a text may end with it too.
    const bearer = createScrubber([`${'A'.repeat(21)}MLheQ1x9%2Bz%3Dsecret`]);
    expect(bearer(`"screaming ${'A'.repeat(12)}`)).toBe(`"screaming ${'A'.repeat(12)}`);
    expect(bearer(`"echo":"${'A'.repeat(21)}MLheQ1x9`)).toBe('"echo":"[REDACTED]');
  });

  it('redacts by pattern in messages what no list foresaw: Bearer values and key fields', () => {
    expect(redactCredentials('x /2/users → 500: {"received":"Bearer AB12cd34\\/ef56=="}')).toBe(
      'x /2/users → 500: {"received":"Bearer [REDACTED]"}',
    );
    expect(redactCredentials('echo: {"x-api-key":"k-123456789","ok":false}')).toBe(
      'echo: {"x-api-key":"[REDACTED]","ok":false}',
    );
    expect(redactCredentials('authorization=Bearer%20abcdefgh1234')).not.toContain('abcdefgh1234');
    expect(redactCredentials('x /2/users → 401: Unauthorized')).toBe(
      'x /2/users → 401: Unauthorized',
    );
    // A scheme word before the value, and words that are no token.
    expect(redactCredentials('{"Authorization":"Token sk_live_abcdefgh1 ijkl"}')).not.toContain(
      'sk_live_abcdefgh1',
    );
    for (const plain of ['body.api_key: field required', 'Bearer authentication required']) {
      expect(redactCredentials(plain)).toBe(plain);
    }
  });

  it('drops userinfo from a URL and keeps the rest', () => {
    const url = new URL('https://user:secret-pass@api.example.com/2/users/1/tweets?max_results=5');
    expect(safeUrl(url)).toBe('https://api.example.com/2/users/1/tweets?max_results=5');
    expect(url.password).toBe('secret-pass');
  });
});
