// newId draws its random bytes from a pool: ids keep their shape, and no two share their bytes,
// across many pool refills.
import { describe, expect, it } from 'vitest';
import { newId } from '../src/ids';

describe('newId', () => {
  it('gives prefixed ids of 20 base-36 characters, all distinct across pool refills', () => {
    const ids = Array.from({ length: 5_000 }, () => newId('pay')); // 100,000 random bytes: about 25 pools
    for (const id of ids) expect(id).toMatch(/^pay_[0-9a-z]{20}$/);
    expect(new Set(ids).size).toBe(ids.length);
    // Characters are spread over the alphabet (a stuck or repeating pool would not be).
    const counts = new Map<string, number>();
    for (const id of ids) for (const character of id.slice(4)) counts.set(character, (counts.get(character) ?? 0) + 1);
    expect(counts.size).toBe(36);
  });
});
