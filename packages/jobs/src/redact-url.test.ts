import { describe, expect, it } from 'vitest';
import { redactRedisUrl, redactUrl } from './redis-connection.ts';

describe('redactUrl', () => {
  it('masks the password wherever the URL carries it and keeps the rest', () => {
    const out = redactUrl(
      'postgres://bf:pw1@db:5432/birdfeed?password=pw2&sslpassword=pw3&sslmode=require&application_name=x',
    );
    expect(out).not.toMatch(/pw1|pw2|pw3/);
    expect(out).toContain('bf:***@db:5432/birdfeed');
    expect(out).toContain('password=***');
    expect(out).toContain('sslmode=require');
    expect(out).toContain('application_name=x');
  });

  it('says which variable could not be read instead of echoing it', () => {
    expect(redactUrl('not a url :pw', 'DATABASE_URL')).toBe('(unparsable DATABASE_URL)');
    expect(redactRedisUrl('redis://:hunter2@h:6379/0')).toBe('redis://:***@h:6379/0');
  });
});
