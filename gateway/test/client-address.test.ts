// Proves the client address the throttles key on: the gateway's data source forwards the signed
// address of its request context to subgraphs, and a subgraph believes the header only when its
// signature holds (a forged or tampered one counts as the caller's own socket address).
import { describe, expect, it } from 'vitest';
import { CLIENT_ADDRESS_HEADER, clientAddressOf, signClientAddress } from '@paygraph/identity';
import { SubgraphDataSource } from '../src/data-source';
import type { GatewayMetrics } from '../src/metrics';

const SECRET = 'a-platform-secret-of-at-least-32-characters';
const socket = { remoteAddress: '127.0.0.1' };

describe('clientAddressOf', () => {
  it('reads a signed address and refuses a forged or tampered one', () => {
    const signed = signClientAddress(SECRET, '198.51.100.7');
    expect(clientAddressOf({ headers: { [CLIENT_ADDRESS_HEADER]: signed }, socket }, SECRET)).toBe('198.51.100.7');
    expect(clientAddressOf({ headers: { [CLIENT_ADDRESS_HEADER]: signed.replace('198.51.100.7', '198.51.100.8') }, socket }, SECRET)).toBe('127.0.0.1');
    expect(clientAddressOf({ headers: { [CLIENT_ADDRESS_HEADER]: signClientAddress('another-secret-of-at-least-32-characters!', '198.51.100.7') }, socket }, SECRET)).toBe('127.0.0.1');
    expect(clientAddressOf({ headers: { [CLIENT_ADDRESS_HEADER]: signed }, socket }, undefined)).toBe('127.0.0.1');
    expect(clientAddressOf({ headers: {}, socket }, SECRET)).toBe('127.0.0.1');
  });
});

describe('SubgraphDataSource', () => {
  it('forwards the signed client address of the request context', () => {
    const source = new SubgraphDataSource({ name: 'auth', url: 'http://127.0.0.1:1/graphql', timeoutMs: 1_000, metrics: {} as GatewayMetrics });
    const headers = new Headers();
    const signed = signClientAddress(SECRET, '203.0.113.9');
    source.willSendRequest({ request: { http: { headers } }, context: { requestId: 'r1', clientAddressSigned: signed } } as unknown as Parameters<SubgraphDataSource['willSendRequest']>[0]);
    expect(headers.get(CLIENT_ADDRESS_HEADER)).toBe(signed);
  });
});
