// Proves issue 10's guarantees from the outside: a bank workload (concurrent clients, retries
// with the same key) runs against the platform started as `npm start` does while the platform is
// SIGKILLed or its private PostgreSQL cluster restarted or stopped, and after recovery every
// check (ledger, reconciliation, conservation, acknowledged writes, subscriptions, notifications)
// is asserted on what the clients were told. Run with `npm run test:faults`; figures in README.md.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrivatePostgres, type PrivatePostgres } from '../support/private-postgres';
import { sleep } from './client';
import { CHECKS, runScenario, type ScenarioDefinition, type ScenarioReport } from './scenario';

/** Load before the first fault, and between kills: at least this long and this many acknowledged writes (bounded). */
const FIRST_FAULT_AFTER_MS = 8_000;
const KILL_INTERVAL_MS = 5_000;
const ACKNOWLEDGED_BEFORE_FAULT = 120;
const ACKNOWLEDGED_BETWEEN_KILLS = 40;
const LOAD_WAIT_MAX_MS = 45_000;
const LOAD_WAIT_BETWEEN_KILLS_MAX_MS = 20_000;
const KILLS = 3;
const DATABASE_STOP_MS = 20_000;
/** A scenario with its setup, load, recovery, settling and checks stays well under this (each kill costs a start)... */
const SCENARIO_TIMEOUT_MS = 480_000;
/** ...and is aborted as a failure before vitest's hook timeout (which would only skip the checks). */
const SCENARIO_ABORT_MS = SCENARIO_TIMEOUT_MS - 30_000;

/** The first fault comes once the workload is in full swing. */
async function loadUnderWay(waitForAcknowledged: (count: number, timeoutMs: number) => Promise<void>) {
  await Promise.all([sleep(FIRST_FAULT_AFTER_MS), waitForAcknowledged(ACKNOWLEDGED_BEFORE_FAULT, LOAD_WAIT_MAX_MS)]);
}

const killThreeTimes: ScenarioDefinition['inject'] = async ({ platform, markFaultWindow, waitForAcknowledged }) => {
  let firstKillAt = 0;
  for (let kill = 0; kill < KILLS; kill += 1) {
    if (kill === 0) await loadUnderWay(waitForAcknowledged);
    else await Promise.all([sleep(KILL_INTERVAL_MS), waitForAcknowledged(ACKNOWLEDGED_BETWEEN_KILLS, LOAD_WAIT_BETWEEN_KILLS_MAX_MS)]);
    const killedAt = Date.now();
    firstKillAt ||= killedAt;
    await platform.crashAndRestart();
    markFaultWindow(firstKillAt, killedAt);
    log(`SIGKILL ${kill + 1} of ${KILLS}: the platform was back ${Date.now() - killedAt} ms later (start ${platform.startDurationsMs.at(-1)} ms)`);
  }
};

const restartDatabase =
  (mode: 'fast' | 'immediate'): ScenarioDefinition['inject'] =>
  async ({ cluster, markFaultWindow, waitForAcknowledged }) => {
    await loadUnderWay(waitForAcknowledged);
    const stoppedAt = Date.now();
    await cluster!.restart(mode);
    markFaultWindow(stoppedAt, Date.now());
  };

const stopDatabase: ScenarioDefinition['inject'] = async ({ cluster, markFaultWindow, waitForAcknowledged }) => {
  await loadUnderWay(waitForAcknowledged);
  const stoppedAt = Date.now();
  await cluster!.stop('fast');
  await sleep(DATABASE_STOP_MS);
  await cluster!.start();
  markFaultWindow(stoppedAt, Date.now());
};

const SCENARIOS: (ScenarioDefinition & { id: string })[] = [
  { id: 'a', name: 'a: platform SIGKILLed 3 times (PostgreSQL)', database: 'postgres', databaseFault: false, inject: killThreeTimes, seed: 1 },
  { id: 'b', name: 'b: PostgreSQL restarted -m fast', database: 'postgres', databaseFault: true, inject: restartDatabase('fast'), seed: 2 },
  { id: 'c', name: 'c: PostgreSQL restarted -m immediate', database: 'postgres', databaseFault: true, inject: restartDatabase('immediate'), seed: 3 },
  { id: 'd', name: 'd: PostgreSQL stopped for 20 s', database: 'postgres', databaseFault: true, inject: stopDatabase, seed: 4 },
  { id: 'e', name: 'e: platform SIGKILLed 3 times (embedded PGlite on disk)', database: 'pglite', databaseFault: false, inject: killThreeTimes, seed: 5 },
];

/** FAULT_SCENARIOS=a,e runs a subset (all by default). */
const selected = new Set((process.env.FAULT_SCENARIOS ?? 'a,b,c,d,e').split(',').map((each) => each.trim()));
const scenarios = SCENARIOS.filter((scenario) => selected.has(scenario.id));
const reports: ScenarioReport[] = [];
let cluster: PrivatePostgres | null = null;
/** Progress goes to stderr at once (vitest would hold console output of a long hook). */
const log = (line: string) => process.stderr.write(`[faults ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

beforeAll(async () => {
  if (scenarios.some((scenario) => scenario.database === 'postgres')) cluster = await createPrivatePostgres();
}, 120_000);

afterAll(async () => {
  await cluster?.destroy();
  if (reports.length === 0) return;
  const rows = reports.map((report) => {
    const figures = report.figures;
    const failed = [...report.checks.values()].filter((result) => !result.ok).length;
    return `| ${report.name} | ${figures.operations} | ${figures.acknowledged} | ${Object.entries(figures.errorsByCode).map(([code, count]) => `${code} ${count}`).join(', ') || '-'} | ${figures.recoveryMs ?? 'never'} | ${figures.settleMs ?? 'never'} | ${figures.payments} / ${figures.refunds} / ${figures.events} | ${CHECKS.length - failed} of ${CHECKS.length} |`;
  });
  log(['', '| scenario | operations | acknowledged | errors by code | recovery ms | settle ms | payments / refunds / events | checks passed |', '|---|---|---|---|---|---|---|---|', ...rows].join('\n'));
});

for (const scenario of scenarios) {
  describe(scenario.name, { concurrent: false }, () => { // vitest 5 dropped describe.sequential
    let report: ScenarioReport | null = null;
    let failure: unknown = null;

    beforeAll(async () => {
      const abort = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const overTime = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          abort.abort();
          reject(new Error(`the scenario did not finish within ${SCENARIO_ABORT_MS} ms`));
        }, SCENARIO_ABORT_MS);
      });
      try {
        report = await Promise.race([runScenario(scenario, cluster, log, abort.signal), overTime]);
        reports.push(report);
        const figures = report.figures;
        log(`${scenario.name}: ${JSON.stringify(figures)}`);
        for (const [name, result] of report.checks) log(`  ${result.ok ? 'ok  ' : 'FAIL'} ${name}: ${result.evidence}`);
      } catch (error) {
        failure = error;
        log(`${scenario.name}: the scenario could not run: ${(error as Error).stack ?? String(error)}${cluster ? `\nPostgreSQL log tail:\n${cluster.log().slice(-2_000)}` : ''}`);
      } finally {
        clearTimeout(timer);
      }
    }, SCENARIO_TIMEOUT_MS);

    for (const name of CHECKS) {
      it(name, () => {
        if (failure) throw failure;
        const result = report!.checks.get(name);
        expect(result, `the check "${name}" was not evaluated`).toBeDefined();
        expect(result!.ok, result!.evidence).toBe(true);
      });
    }
  });
}
