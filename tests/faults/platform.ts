/**
 * The platform as a supervisor runs it: `npm start` as its own process (tests/support's
 * spawnPlatform) on a fixed gateway port, so clients keep one URL across restarts. It can be
 * crashed (SIGKILL to the whole process group) and started again; an exit nobody asked for is
 * recorded with the end of the output (evidence) and the platform is started again, as
 * `restart: unless-stopped` would, retrying while it cannot start (e.g. the database is down).
 */
import { spawnPlatform, type SpawnedPlatform } from '../support/spawn-platform';
import { freePort } from '../support/private-postgres';
import { sleep } from './client';

/** Attempts to start the platform again while it exits at start-up (1 s apart). */
const START_ATTEMPTS_MAX = 90;
const OUTPUT_TAIL_CHARS = 1_500;

export interface UnexpectedExit {
  at: number;
  code: number | null;
  outputTail: string;
}

export class SupervisedPlatform {
  gatewayUrl = '';
  readonly unexpectedExits: UnexpectedExit[] = [];
  readonly failedStarts: string[] = [];
  /** Milliseconds each (re)start took until the gateway announced itself. */
  readonly startDurationsMs: number[] = [];
  private current: SpawnedPlatform | null = null;
  private expectingExit = false;
  private stopped = false;
  private restarting: Promise<void> | null = null;

  private constructor(private readonly env: Record<string, string>) {}

  static async start(env: Record<string, string>): Promise<SupervisedPlatform> {
    const port = await freePort();
    const platform = new SupervisedPlatform({ ...env, PORT: String(port) });
    await platform.launch();
    return platform;
  }

  private async launch(): Promise<void> {
    for (let attempt = 1; attempt <= START_ATTEMPTS_MAX && !this.stopped; attempt += 1) {
      const startedAt = Date.now();
      try {
        const spawned = await spawnPlatform(this.env);
        this.startDurationsMs.push(Date.now() - startedAt);
        if (this.gatewayUrl && spawned.gatewayUrl !== this.gatewayUrl) throw new Error(`the gateway moved from ${this.gatewayUrl} to ${spawned.gatewayUrl}`);
        this.gatewayUrl = spawned.gatewayUrl;
        this.current = spawned;
        this.expectingExit = false;
        void spawned.exited.then((code) => this.onExit(spawned, code));
        return;
      } catch (error) {
        this.failedStarts.push(String((error as Error).message).slice(-OUTPUT_TAIL_CHARS));
        await sleep(1_000);
      }
    }
    if (!this.stopped) throw new Error(`the platform did not start in ${START_ATTEMPTS_MAX} attempts:\n${this.failedStarts.at(-1) ?? ''}`);
  }

  private onExit(spawned: SpawnedPlatform, code: number | null) {
    if (this.current !== spawned || this.expectingExit || this.stopped) return;
    this.current = null;
    this.unexpectedExits.push({ at: Date.now(), code, outputTail: spawned.output().slice(-OUTPUT_TAIL_CHARS) });
    this.restarting = this.launch().finally(() => (this.restarting = null));
  }

  /** SIGKILL to the platform's process group, then a fresh start on the same data and port. */
  async crashAndRestart(): Promise<void> {
    await this.restarting;
    const spawned = this.current;
    if (spawned) {
      this.expectingExit = true;
      try {
        process.kill(-spawned.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await spawned.exited;
      this.current = null;
    }
    await this.launch();
  }

  /** Waits for a restart in progress (after an unexpected exit). */
  async settled(): Promise<void> {
    await this.restarting;
  }

  output(): string {
    return this.current?.output() ?? '';
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.restarting?.catch(() => undefined);
    const spawned = this.current;
    this.current = null;
    if (spawned) {
      this.expectingExit = true;
      await spawned.stop();
    }
  }
}
