// Lines to stdout are coalesced: lines logged together share one write, a lone line still goes out
// within the window, a full window goes out at once, and flushSync leaves nothing behind.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { CoalescingDestination } from '../src';

function recordingSink() {
  const writes: string[] = [];
  let flushedSync = 0;
  return {
    writes,
    flushedSync: () => flushedSync,
    sink: {
      write: (chunk: string) => writes.push(chunk),
      flushSync: () => {
        flushedSync += 1;
      },
    },
  };
}

describe('CoalescingDestination', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('writes the lines logged within the window in one write, in order, after the window', () => {
    const { sink, writes } = recordingSink();
    const logger = pino({ base: null, timestamp: false }, new CoalescingDestination(sink, 10, 1 << 20));
    for (let index = 0; index < 50; index += 1) logger.info({ index }, 'line');
    expect(writes).toHaveLength(0);
    vi.advanceTimersByTime(9);
    expect(writes).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(writes).toHaveLength(1);
    const lines = writes[0]!.trimEnd().split('\n').map((line) => JSON.parse(line) as { index: number });
    expect(lines.map((line) => line.index)).toEqual(Array.from({ length: 50 }, (_, index) => index));
  });

  it('writes a lone line within the window, and each later window on its own', () => {
    const { sink, writes } = recordingSink();
    const destination = new CoalescingDestination(sink, 10, 1 << 20);
    destination.write('a\n');
    vi.advanceTimersByTime(10);
    destination.write('b\n');
    destination.write('c\n');
    vi.advanceTimersByTime(10);
    vi.advanceTimersByTime(100);
    expect(writes).toEqual(['a\n', 'b\nc\n']);
  });

  it('writes at once when the gathered lines reach the size limit', () => {
    const { sink, writes } = recordingSink();
    const destination = new CoalescingDestination(sink, 10, 8);
    destination.write('1234\n');
    expect(writes).toEqual([]);
    destination.write('5678\n');
    expect(writes).toEqual(['1234\n5678\n']);
    destination.write('9\n');
    vi.advanceTimersByTime(10);
    expect(writes).toEqual(['1234\n5678\n', '9\n']);
  });

  it('flushSync hands everything gathered to the sink and flushes it synchronously', () => {
    const { sink, writes, flushedSync } = recordingSink();
    const destination = new CoalescingDestination(sink, 10, 1 << 20);
    destination.write('x\n');
    destination.write('y\n');
    destination.flushSync();
    expect(writes).toEqual(['x\ny\n']);
    expect(flushedSync()).toBe(1);
    vi.advanceTimersByTime(100);
    expect(writes).toEqual(['x\ny\n']);
  });
});
