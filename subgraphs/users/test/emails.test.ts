// A new address may not pass for another: invisible characters and compatibility forms (fullwidth
// letters, ligatures, circled digits) are refused; ordinary and internationalized addresses pass.
import { describe, expect, it } from 'vitest';
import { normalizeNewEmail } from '../src/domain/validation';

const problem = (email: string) => {
  try {
    normalizeNewEmail(email, 'input.email');
    return null;
  } catch (error) {
    return (error as Error).message;
  }
};

describe('normalizeNewEmail', () => {
  it.each(['user@ｐrobe.test', 'ｕser@probe.test', 'user@probe.ｔｅｓｔ', 'ﬁle@probe.test', 'user①@probe.test'])('refuses the look-alike %j', (email) => {
    expect(problem(email)).toMatch(/compatibility forms/);
  });

  it.each(['user@probe.test', 'José@example.test', 'josé@example.test', 'δοκιμή@παράδειγμα.δοκιμή', '用户@例子.广告'])('accepts %j', (email) => {
    expect(problem(email)).toBeNull();
  });
});
