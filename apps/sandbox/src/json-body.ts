/**
 * agntdata declares `user_id` a JSON integer, and snowflake user ids exceed 2^53: JSON.parse
 * would round them. Integer literals too long to be exact doubles (16+ digits) are quoted
 * before parsing, outside strings only, so they arrive as their exact decimal strings.
 */
function isNumberChar(char: number): boolean {
  // 0-9 . e E + -
  return (
    (char >= 0x30 && char <= 0x39) ||
    char === 0x2e ||
    char === 0x65 ||
    char === 0x45 ||
    char === 0x2b ||
    char === 0x2d
  );
}

export function parseJsonKeepingBigIntegers(text: string): unknown {
  let out = '';
  let last = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c) i++;
      else if (char === 0x22) inString = false;
      continue;
    }
    if (char === 0x22) {
      inString = true;
      continue;
    }
    if (!isNumberChar(char)) continue;
    let end = i;
    while (end < text.length && isNumberChar(text.charCodeAt(end))) end++;
    const token = text.slice(i, end);
    if (/^-?\d{16,}$/.test(token)) {
      out += `${text.slice(last, i)}"${token}"`;
      last = end;
    }
    i = end - 1;
  }
  return JSON.parse(last === 0 ? text : out + text.slice(last));
}
