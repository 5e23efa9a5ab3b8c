import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The real recorded provider responses shared by every engineer (read-only). */
export const FIXTURES_ROOT = fileURLToPath(
  new URL('../../../../shared/fixtures/real/', import.meta.url),
);

export function fixturePath(name: string): string {
  return join(FIXTURES_ROOT, name);
}

export function readFixture(name: string): string {
  return readFileSync(fixturePath(name), 'utf8');
}

/** Every response file under fixtures/real (the OpenAPI spec is a spec, not a response). */
export function listFixtureFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.(json|jsonl)$/.test(entry) && !path.includes('/openapi/')) {
        out.push(relative(FIXTURES_ROOT, path));
      }
    }
  };
  walk(FIXTURES_ROOT);
  return out.sort();
}
