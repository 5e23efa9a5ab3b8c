import { describe, expect, it } from 'vitest';
import { describeError } from './errors.ts';

describe('describeError', () => {
  it("puts the driver's reason before drizzle's statement, which alone said nothing", () => {
    const terminated = new Error('terminating connection due to administrator command');
    const wrapped = new Error('Failed query: rollback\nparams: ', { cause: terminated });
    expect(describeError(wrapped).message).toBe(
      'terminating connection due to administrator command (Failed query: rollback)',
    );
  });

  it('leaves every other message as it is', () => {
    expect(describeError(new Error('x /2/users → 503: busy')).message).toBe(
      'x /2/users → 503: busy',
    );
    expect(describeError('boom')).toEqual({ name: 'Error', message: 'boom' });
  });
});
