import { createHmac } from 'node:crypto';

/**
 * Opaque pagination tokens (X `next_token`, agntdata `continuation_token`). The position is
 * carried in the token itself, signed so a client cannot forge one, and stamped with the
 * sandbox time it was issued so it can expire the way real cursors do.
 */
export interface CursorPosition {
  provider: 'x' | 'agntdata';
  accountIndex: number;
  /** Exclusive bound: the page holds ids below it (or above it when `backwards`). */
  upper: bigint;
  /** An X previous_token: the page is the one just above `upper`, toward newer tweets. */
  backwards: boolean;
  /** The since_id the chain started with (X), kept for requests that do not repeat it. */
  sinceId: bigint | null;
  /** Pages served so far in this chain (varies the short-page draw from page to page). */
  page: number;
  issuedAtMs: number;
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

function toBase32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

function fromBase32(text: string): Buffer | null {
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of text) {
    const digit = BASE32.indexOf(char);
    if (digit < 0) return null;
    value = ((value << 5) | digit) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

export class CursorCodec {
  constructor(private readonly secret: string) {}

  private mac(payload: string): Buffer {
    return createHmac('sha256', this.secret).update(payload).digest().subarray(0, 8);
  }

  encode(position: CursorPosition): string {
    const payload = [
      (position.provider === 'x' ? 'x' : 'a') + (position.backwards ? 'p' : ''),
      position.accountIndex,
      position.upper.toString(36),
      position.sinceId === null ? '' : position.sinceId.toString(36),
      position.page,
      Math.floor(position.issuedAtMs).toString(36),
    ].join('.');
    const bytes = Buffer.concat([Buffer.from(payload, 'latin1'), this.mac(payload)]);
    return position.provider === 'x' ? toBase32(bytes) : `DAAB${bytes.toString('base64url')}`;
  }

  /** The position, or null for anything this sandbox did not issue. */
  decode(token: string, provider: 'x' | 'agntdata'): CursorPosition | null {
    if (token.length === 0 || token.length > 512) return null;
    let bytes: Buffer | null;
    if (provider === 'x') bytes = fromBase32(token);
    else bytes = token.startsWith('DAAB') ? Buffer.from(token.slice(4), 'base64url') : null;
    if (bytes === null || bytes.length <= 8) return null;
    const payload = bytes.subarray(0, bytes.length - 8).toString('latin1');
    if (!this.mac(payload).equals(bytes.subarray(bytes.length - 8))) return null;
    const [tag, account, upper, since, page, issued] = payload.split('.');
    const base = provider === 'x' ? 'x' : 'a';
    if ((tag !== base && tag !== `${base}p`) || issued === undefined) return null;
    try {
      return {
        provider,
        accountIndex: Number(account),
        upper: parseBase36BigInt(upper ?? ''),
        backwards: tag.endsWith('p'),
        sinceId: since === '' || since === undefined ? null : parseBase36BigInt(since),
        page: Number(page),
        issuedAtMs: Number.parseInt(issued, 36),
      };
    } catch {
      return null;
    }
  }
}

function parseBase36BigInt(text: string): bigint {
  if (!/^[0-9a-z]+$/.test(text)) throw new SyntaxError('not base 36');
  let value = 0n;
  for (const char of text) value = value * 36n + BigInt(Number.parseInt(char, 36));
  return value;
}
