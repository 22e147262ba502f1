// The process's stdout destination is asynchronous and shared: nothing logged before an exit is
// lost, and lines of two root loggers never interleave mid-line.
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const fixture = path.join(import.meta.dirname, 'fixtures/log-and-exit.ts');
const waiting = path.join(import.meta.dirname, 'fixtures/log-and-wait.ts');
/** How long a test waits for lines a live process should have written by then (its batch window is 50 ms). */
const LINES_WITHIN_MS = 5_000;

describe('stdout logging', () => {
  it('writes every line, whole, before process.exit ends the process', async () => {
    const lines = 2000;
    const result = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', fixture, String(lines)], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout });
      });
    });
    expect(result.code).toBe(3);
    const parsed = result.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { name: string; index: number });
    expect(parsed).toHaveLength(2 * lines);
    for (const name of ['first', 'second']) {
      expect(parsed.filter((line) => line.name === name).map((line) => line.index)).toEqual(Array.from({ length: lines }, (_, index) => index));
    }
  });

  it('writes a batch smaller than its size while the process lives, soon after its first line', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', waiting, 'wait', '3'], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      let output = '';
      const arrived = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), LINES_WITHIN_MS);
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.split('\n').filter(Boolean).length >= 3) {
            clearTimeout(timer);
            resolve(true);
          }
        });
      });
      // Still running: the lines came from the batch timer, not from the exit flush.
      expect(arrived).toBe(true);
      expect(child.exitCode).toBeNull();
      expect(output.trimEnd().split('\n').map((line) => (JSON.parse(line) as { index: number }).index)).toEqual([0, 1, 2]);
    } finally {
      child.stdin.end();
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }, 20_000);

  it('writes every line when the event loop empties, without process.exit', async () => {
    const lines = 1000;
    const output = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', waiting, 'return', String(lines)], { maxBuffer: 64 * 1024 * 1024 }, (error, output) => (error ? reject(error) : resolve(output)));
    });
    expect(output.trimEnd().split('\n').map((line) => (JSON.parse(line) as { index: number }).index)).toEqual(Array.from({ length: lines }, (_, index) => index));
  });
});
