/**
 * What the edge limits cost (issue 11):
 * - a refused operation (the 51-level `me { wallets { owner ... } } }` query, refused with
 *   MAX_DEPTH_LIMIT; 10,000 aliases, refused with MAX_TOKENS_LIMIT while parsing): round trips per
 *   second and latency through the gateway, and the whole process's CPU per refusal;
 * - the overhead of the checks on an ordinary query: the checks alone (operation shape, input
 *   hygiene, estimated and actual cost) timed in this process on the same document and schema,
 *   beside the query's round trip through the gateway.
 *
 *   npm run bench:edge     (in-process platform on embedded PGlite in memory; DATABASE_URL for PostgreSQL)
 *
 * Settings: BENCH_SECONDS=5 per point, BENCH_CLIENTS=4 concurrent loops. The platform, the gateway
 * and the load generator share this process (its CPU is what is reported) and the machine.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { buildClientSchema, getIntrospectionQuery, getOperationAST, parse, validate, type IntrospectionQuery } from 'graphql';
import { loadLimitSettings, repositoryRoot } from '@paygraph/config';
import { checkInputs, checkOperationShape, measureOperation } from '@paygraph/server';
import { gql, registerAndLogin } from '@paygraph/testing';
import { startTestPlatform } from '@paygraph/platform';
import { actualCost, estimateCost, readCostDirectives } from '../gateway/src/limits/cost';
import { timed } from './timed';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const MICRO_ITERATIONS = 20_000;

const ORDINARY = `query Ordinary { me { id name wallets { id currency balance { amount currency } } } }`;
function walletsQuery(levels: number): string {
  let selection = 'id';
  for (let level = levels - 1; level >= 1; level -= 1) selection = `${level % 2 === 1 ? 'wallets' : 'owner'} { ${selection} }`;
  return `query Deep { me { ${selection} } }`;
}
const DEEP = walletsQuery(51);
const ALIASES = `{ ${Array.from({ length: 10_000 }, (_, index) => `a${index}: me { id }`).join(' ')} }`;

/** CPU microseconds per call of `work` (CPU time, not wall time: the machine may be busy). */
function microseconds(iterations: number, work: () => void): number {
  for (let index = 0; index < Math.min(1_000, iterations); index += 1) work(); // warm up
  const started = process.cpuUsage();
  for (let index = 0; index < iterations; index += 1) work();
  const used = process.cpuUsage(started);
  return (used.user + used.system) / iterations;
}

async function main() {
  const platform = await startTestPlatform();
  try {
    const url = platform.gatewayUrl!;
    const buyer = await registerAndLogin({ register: url, login: url });
    for (const currency of ['USD', 'EUR']) {
      const credited = await gql(url, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: { amount: '1000', currency }, idempotencyKey: `bench-${currency}` } }, buyer.accessToken);
      if (credited.errors) throw new Error(JSON.stringify(credited.errors));
    }
    const ordinaryResult = await gql(url, ORDINARY, {}, buyer.accessToken);
    if (ordinaryResult.errors) throw new Error(JSON.stringify(ordinaryResult.errors));
    const deepResult = await gql(url, DEEP, {}, buyer.accessToken);
    const aliasesResult = await gql(url, ALIASES, {}, buyer.accessToken);
    if (deepResult.errors?.[0]?.extensions?.code !== 'MAX_DEPTH_LIMIT') throw new Error(`51 levels not refused: ${JSON.stringify(deepResult.errors)}`);
    if (aliasesResult.errors?.[0]?.extensions?.code !== 'MAX_TOKENS_LIMIT') throw new Error(`aliases not refused: ${JSON.stringify(aliasesResult.errors)}`);

    // The checks alone, on the gateway's API schema and the composed supergraph's cost directives.
    const introspection = await gql<IntrospectionQuery>(url, getIntrospectionQuery());
    const schema = buildClientSchema(introspection.data!);
    const directives = readCostDirectives(readFileSync(path.join(repositoryRoot, 'schema/supergraph.graphql'), 'utf8'));
    const limits = loadLimitSettings({});
    const document = parse(ORDINARY);
    const operation = getOperationAST(document)!;
    const costContext = { schema, directives, listSizeDefault: limits.OPERATION_COST_LIST_SIZE_DEFAULT, variables: {} };
    const checksMicros = microseconds(MICRO_ITERATIONS, () => {
      const shape = measureOperation(document, operation, { depthCut: limits.OPERATION_DEPTH_MAX + 1, visitsMax: limits.OPERATION_TOKENS_MAX });
      if (checkOperationShape(shape, limits) || checkInputs(schema, document, operation, {})) throw new Error('ordinary query refused');
      estimateCost(document, operation, costContext);
      actualCost(document, operation, costContext, ordinaryResult.data);
    });
    const refusalMicros = microseconds(2_000, () => {
      const parsed = parse(DEEP);
      validate(schema, parsed);
      const shape = measureOperation(parsed, getOperationAST(parsed)!, { depthCut: limits.OPERATION_DEPTH_MAX + 1, visitsMax: limits.OPERATION_TOKENS_MAX });
      if (!checkOperationShape(shape, limits)) throw new Error('not refused');
    });
    const tokensMicros = microseconds(200, () => {
      try {
        parse(ALIASES, { maxTokens: limits.OPERATION_TOKENS_MAX });
      } catch {
        return;
      }
      throw new Error('not refused');
    });

    const rows: string[] = [];
    const point = async (label: string, query: string) => {
      const cpuBefore = process.cpuUsage();
      const result = await timed(CLIENTS, SECONDS * 1000, async () => {
        await gql(url, query, {}, buyer.accessToken);
      });
      const cpu = process.cpuUsage(cpuBefore);
      const cpuMsPerRequest = (cpu.user + cpu.system) / 1e3 / (result.perSecond * SECONDS);
      rows.push(`| ${label} | ${result.perSecond.toFixed(0)} | ${result.p50.toFixed(2)} / ${result.p99.toFixed(2)} | ${cpuMsPerRequest.toFixed(2)} |`);
      return { ...result, cpuMsPerRequest };
    };
    const { cpuMsPerRequest: ordinaryCpuMs } = await point('ordinary query (me, 2 wallets with balances; 3 subgraph fetches)', ORDINARY);
    await point('refused: 51 levels (MAX_DEPTH_LIMIT), 1.1 KB', DEEP);
    await point('refused: 10,000 aliases (MAX_TOKENS_LIMIT), 149 KB', ALIASES);

    console.log(`\nedge limits, ${CLIENTS} clients, ${SECONDS} s per point, ${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, load average ${loadavg()[0]!.toFixed(1)} at the end\n`);
    console.log('| request | requests/s | p50 / p99 ms | process CPU ms per request |');
    console.log('|---|---|---|---|');
    for (const row of rows) console.log(row);
    console.log(`\nchecks alone on the ordinary query (shape, input hygiene, estimated + actual cost): ${checksMicros.toFixed(1)} µs CPU`);
    console.log(`  = ${((checksMicros / 1000 / ordinaryCpuMs) * 100).toFixed(1)}% of the process CPU per ordinary query (${ordinaryCpuMs.toFixed(2)} ms, load generator included)`);
    console.log(`refusing the 51-level query in process (parse + validate + shape): ${refusalMicros.toFixed(1)} µs CPU`);
    console.log(`refusing 10,000 aliases in process (parse stopped at ${limits.OPERATION_TOKENS_MAX} tokens): ${tokensMicros.toFixed(1)} µs CPU`);
  } finally {
    await platform.stop();
  }
}

await main();
