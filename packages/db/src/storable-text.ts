/**
 * Text as a Postgres text column can hold it: NUL (U+0000) becomes U+FFFD. A provider body with
 * a raw NUL byte is invalid JSON and is kept in raw_pages with its error; refused by Postgres, it
 * failed the page's whole failure record every time, so the invalid-body streak never counted
 * it and the same page was bought again forever. Error messages can quote such a body too.
 */
export function storableText(text: string): string;
export function storableText(text: string | null): string | null;
export function storableText(text: string | null): string | null {
  return text?.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}
