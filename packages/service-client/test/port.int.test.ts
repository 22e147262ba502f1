// Proves that a port translates a callee's refusal into the caller's terms, with real HTTP on
// loopback against a subgraph-shaped server: a refusal the port lists becomes the caller's error or
// outcome; any other (a BAD_USER_INPUT with the callee's field path) becomes an internal error
// that the public formatter masks, so neither the callee's message nor its path reaches clients;
// SERVICE_UNAVAILABLE passes through; an answer resolves with its data.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLError } from 'graphql';
import { afterAll, describe, expect, it } from 'vitest';
import { apiError, ErrorCode, publicViewOf as publicView } from '@paygraph/errors';
import { createPort, createServiceClient, refusalOf, ServiceContractError, translations, type TypedOperation } from '../src';

const servers: Server[] = [];

/** A callee that answers every request with `body` (and records the documents it was sent). */
async function callee(body: unknown, received: string[] = []): Promise<string> {
  const server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      received.push((JSON.parse(text) as { query: string }).query);
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
}

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

function portTo(url: string, translate: Parameters<typeof createPort>[0]['translate'] = {}) {
  const client = createServiceClient({ service: 'payments', serviceSecret: 'unused', directory: { url: () => url }, tokenProvider: async () => 'token' });
  return createPort({ client, service: 'ledger', translate });
}


type TransferResult = { transferFunds: { id: string } };
const TRANSFER = 'mutation Transfer($input: TransferFundsInput!) { transferFunds(input: $input) { id } }' as TypedOperation<TransferResult, { input: { amount: string } }>;

const ledgerRefusal = (code: string, message: string, field?: string) => ({
  data: null,
  errors: [{ message, path: ['transferFunds'], extensions: { code, ...(field ? { field } : {}) } }],
});

describe('a port to a callee', () => {
  it('resolves with the typed result and sends the operation document', async () => {
    const received: string[] = [];
    const result = await portTo(await callee({ data: { transferFunds: { id: 'txn_1' } } }, received)).call(TRANSFER, { input: { amount: '5' } });
    expect(result.transferFunds.id).toBe('txn_1');
    expect(received).toEqual([TRANSFER.toString()]);
  });

  it("turns an unexpected refusal into an internal error: the callee's message and field path never reach clients", async () => {
    const url = await callee(ledgerRefusal('BAD_USER_INPUT', 'Account acc_9 holds USD, not EUR', 'input.accounts.0.amount.currency'));
    const error = await portTo(url).call(TRANSFER, { input: { amount: '5' } }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ServiceContractError);
    // The log keeps the callee's words.
    expect((error as Error).message).toContain('ledger refused Transfer with BAD_USER_INPUT on input.accounts.0.amount.currency');
    const seen = publicView(error);
    expect(seen).toEqual({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(JSON.stringify(seen)).not.toMatch(/acc_9|accounts|USD/);
  });

  it("turns a listed refusal into the caller's own error, without the callee's message or field", async () => {
    const url = await callee(ledgerRefusal('INVALID_STATE', 'Hold hld_1 is voided; only a pending hold can be captured.', 'input.holdId'));
    const port = portTo(url, { INVALID_STATE: translations.error(ErrorCode.INVALID_STATE, 'The payment can no longer be captured.') });
    const error = await port.call(TRANSFER, { input: { amount: '5' } }).catch((caught: unknown) => caught);
    expect(publicView(error)).toEqual({ message: 'The payment can no longer be captured.', extensions: { code: 'INVALID_STATE' } });
    // The refusal stays on the cause, for the log.
    expect(refusalOf((error as Error).cause)).toMatchObject({ service: 'ledger', code: 'INVALID_STATE', field: 'input.holdId' });
  });

  it('lets one call translate a refusal into an outcome over the port', async () => {
    const url = await callee(ledgerRefusal('NOT_FOUND', 'No ledger account acc_9'));
    const port = portTo(url, { NOT_FOUND: () => apiError(ErrorCode.NOT_FOUND, 'port-wide') });
    await expect(port.call(TRANSFER, { input: { amount: '5' } }, { translate: { NOT_FOUND: translations.outcome(null) } })).resolves.toBeNull();
    await expect(port.call(TRANSFER, { input: { amount: '5' } })).rejects.toThrow('port-wide');
  });

  it("passes the callee's SERVICE_UNAVAILABLE through, whatever the translations", async () => {
    const url = await callee(ledgerRefusal('SERVICE_UNAVAILABLE', 'A service this request needs is unavailable'));
    const port = portTo(url, { BAD_USER_INPUT: translations.error(ErrorCode.BAD_USER_INPUT, 'never used') });
    const error = await port.call(TRANSFER, { input: { amount: '5' } }, { translate: { NOT_FOUND: translations.outcome(null) } }).catch((caught: unknown) => caught);
    expect((error as GraphQLError).extensions.code).toBe('SERVICE_UNAVAILABLE');
    expect(error).not.toBeInstanceOf(ServiceContractError);
  });
});
