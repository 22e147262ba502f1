// Proves cursors are opaque and checked: what encodeCursor made decodes to its position, and
// anything else (not base64url of `v1:<digits>`, too long, or a number past PostgreSQL's bigint,
// which the database refused with an internal error) is BAD_USER_INPUT on `after`.
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, pageSize } from '../src/pagination';

const refusal = (cursor: string) => {
  try {
    decodeCursor(cursor);
  } catch (error) {
    return (error as { extensions?: Record<string, unknown> }).extensions;
  }
  return null;
};

describe('decodeCursor', () => {
  it('decodes what encodeCursor made, up to the largest bigint', () => {
    expect(decodeCursor(encodeCursor('42'))).toBe('42');
    expect(decodeCursor(encodeCursor('9223372036854775807'))).toBe('9223372036854775807');
    expect(decodeCursor(null)).toBeNull();
  });

  it('refuses a position past the largest bigint, garbage and other versions as BAD_USER_INPUT on after', () => {
    for (const cursor of [
      encodeCursor('9223372036854775808'),
      encodeCursor('9999999999999999999'),
      encodeCursor('-1'),
      encodeCursor('1e3'),
      Buffer.from('v2:42').toString('base64url'),
      'not a cursor',
      'A'.repeat(201),
    ]) {
      expect(refusal(cursor)).toEqual({ code: 'BAD_USER_INPUT', field: 'after' });
    }
  });
});

describe('cursors of a list', () => {
  const refusedWith = (cursor: string, list: string) => {
    try {
      decodeCursor(cursor, list);
    } catch (error) {
      return { message: (error as Error).message, extensions: (error as { extensions?: Record<string, unknown> }).extensions };
    }
    return null;
  };

  it("reads a list's own cursors and refuses another list's by name (they paged from an arbitrary position)", () => {
    expect(decodeCursor(encodeCursor('42', 'payments'), 'payments')).toBe('42');
    expect(refusedWith(encodeCursor('42', 'notifications'), 'ledgerEntries')).toEqual({ message: 'after is a cursor from notifications, not from ledgerEntries', extensions: { code: 'BAD_USER_INPUT', field: 'after' } });
    // Cursors made before lists were named still read; a list's cursor is refused where no list is named.
    expect(decodeCursor(encodeCursor('42'), 'payments')).toBe('42');
    expect(refusal(encodeCursor('42', 'payments'))).toEqual({ code: 'BAD_USER_INPUT', field: 'after' });
    expect(refusedWith(Buffer.from('v2:payments:x').toString('base64url'), 'payments')?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'after' });
  });
});

describe('pageSize', () => {
  it('defaults to 20 and refuses 0, negatives and more than 100', () => {
    expect(pageSize(undefined)).toBe(20);
    expect(pageSize(100)).toBe(100);
    for (const first of [0, -1, 101, 2 ** 31]) expect(() => pageSize(first)).toThrow('first must be between 1 and 100');
  });
});
