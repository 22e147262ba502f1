// The process's stdout destination is asynchronous and shared: nothing logged before an exit is
// lost, and lines of two root loggers never interleave mid-line.
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const fixture = path.join(import.meta.dirname, 'fixtures/log-and-exit.ts');
const waitingFixture = path.join(import.meta.dirname, 'fixtures/log-and-wait.ts');

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

  it('writes a line while the process runs, and the last line of a process that ends by itself', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', waitingFixture, '1500'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    let aliveWhenFirstSeen: boolean | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (aliveWhenFirstSeen === undefined && output.includes('logged while alive')) aliveWhenFirstSeen = child.exitCode === null;
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code).toBe(0);
    expect(aliveWhenFirstSeen).toBe(true);
    expect(output).toContain('last line');
  });
});
