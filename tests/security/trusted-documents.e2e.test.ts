// Proves trusted documents at the gateway (HTTP and WebSocket subscriptions): gateway processes spawned with TRUSTED_DOCUMENTS=enforce
// (an Apollo persisted query list) and =log (a GraphQL Code Generator persisted-documents.json)
// resolve listed documents from their id, refuse unknown ids with PERSISTED_QUERY_NOT_FOUND and
// unlisted documents with FORBIDDEN and do not serve the IDE when enforcing, and run unknown
// documents when logging; the suite's own gateway (off) runs any document.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { errorCode, gql, registerAndLogin } from '@paygraph/testing';
import { spawnGateway, type SpawnedGateway } from '../support/spawn-gateway';
import { subscribe, wsClient } from '../support/subscriptions';

const platformUrl = inject('gatewayUrl');
const subgraphUrls = inject('subgraphUrls');

const ME = 'query Me { me { id } }';
const ME_ID = createHash('sha256').update(ME).digest('hex');
/** Apollo's lists may use ids that are not the document's hash: the gateway looks the id up. */
const TYPENAME = 'query Kind { __typename }';
const TYPENAME_ID = 'kind-v1';
const UNLISTED = 'query Other { me { id name } }';
const LISTED_SUBSCRIPTION = 'subscription Changes { paymentStatusChanged { sequence status } }';
const UNLISTED_SUBSCRIPTION = 'subscription Mine { paymentStatusChanged { sequence } }';

let folder: string;
let enforcing: SpawnedGateway;
let logging: SpawnedGateway;

const byId = (url: string, id: string, method: 'POST' | 'GET' = 'POST') => {
  const extensions = { persistedQuery: { version: 1, sha256Hash: id } };
  if (method === 'GET') {
    const target = new URL(url);
    target.searchParams.set('extensions', JSON.stringify(extensions));
    return fetch(target, { headers: { 'apollo-require-preflight': 'true' } });
  }
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ extensions }) });
};

beforeAll(async () => {
  folder = mkdtempSync(path.join(tmpdir(), 'paygraph-trusted-'));
  const apolloList = path.join(folder, 'persisted-query-manifest.json');
  writeFileSync(apolloList, JSON.stringify({
    format: 'apollo-persisted-query-manifest',
    version: 1,
    operations: [
      { id: ME_ID, body: ME, name: 'Me', type: 'query' },
      { id: TYPENAME_ID, body: TYPENAME, name: 'Kind', type: 'query' },
      { id: 'changes-v1', body: LISTED_SUBSCRIPTION, name: 'Changes', type: 'subscription' },
    ],
  }));
  const codegenList = path.join(folder, 'persisted-documents.json');
  writeFileSync(codegenList, JSON.stringify({ [ME_ID]: ME }));
  [enforcing, logging] = await Promise.all([
    spawnGateway(subgraphUrls, { TRUSTED_DOCUMENTS: 'enforce', TRUSTED_DOCUMENTS_MANIFEST: apolloList }),
    spawnGateway(subgraphUrls, { TRUSTED_DOCUMENTS: 'log', TRUSTED_DOCUMENTS_MANIFEST: codegenList }),
  ]);
});

afterAll(async () => {
  await Promise.all([enforcing?.stop(), logging?.stop()]);
  if (folder) rmSync(folder, { recursive: true, force: true });
});

describe('TRUSTED_DOCUMENTS=enforce', () => {
  it('runs a listed document sent by id (POST and GET), whatever the id', async () => {
    const posted = await (await byId(enforcing.url, ME_ID)).json();
    expect(posted).toEqual({ data: { me: null } });
    const got = await (await byId(enforcing.url, TYPENAME_ID, 'GET')).json();
    expect(got).toEqual({ data: { __typename: 'Query' } });
  });

  it('runs a listed document sent in full', async () => {
    const result = await gql(enforcing.url, ME);
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ me: null });
  });

  it('refuses an unknown id with PERSISTED_QUERY_NOT_FOUND', async () => {
    const response = await byId(enforcing.url, createHash('sha256').update(UNLISTED).digest('hex'));
    const body = await response.json();
    expect(body.errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
  });

  it('refuses a document that is not listed with FORBIDDEN, before anything runs', async () => {
    const result = await gql(enforcing.url, UNLISTED);
    expect(result.status).toBe(403);
    expect(errorCode(result)).toBe('FORBIDDEN');
    expect(result.data).toBeUndefined();
  });

  it('applies the same list to subscriptions over WebSocket', async () => {
    const user = await registerAndLogin({ register: platformUrl, login: platformUrl });
    const client = wsClient(enforcing.url, user.accessToken);
    try {
      const unlisted = subscribe(client, UNLISTED_SUBSCRIPTION);
      const listed = subscribe(client, LISTED_SUBSCRIPTION);
      const refused = (await Promise.race([unlisted.failure, new Promise((resolve) => setTimeout(() => resolve(null), 5_000))])) as { extensions?: { code?: string } }[] | null;
      expect(refused?.[0]?.extensions?.code).toBe('FORBIDDEN');
      // The listed one is live: no refusal arrives.
      expect(await Promise.race([listed.failure.then(() => 'refused'), new Promise((resolve) => setTimeout(() => resolve('live'), 1_000))])).toBe('live');
      await listed.dispose();
    } finally {
      await client.dispose();
    }
  });

  it('does not serve the IDE', async () => {
    const page = await fetch(enforcing.url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(404);
    expect(await page.text()).not.toContain('<html');
  });
});

describe('TRUSTED_DOCUMENTS=log', () => {
  it('runs listed documents by id (codegen manifest) and unknown ones too', async () => {
    // That the unknown one is logged is proven in gateway/test/trusted-documents.test.ts.
    expect(await (await byId(logging.url, ME_ID)).json()).toEqual({ data: { me: null } });
    const result = await gql(logging.url, `query Unlisted { __typename }`);
    expect(result.data).toEqual({ __typename: 'Query' });
  });
});

describe('TRUSTED_DOCUMENTS=off (the default)', () => {
  it('runs any document', async () => {
    expect((await gql(platformUrl, UNLISTED)).data).toEqual({ me: null });
  });
});
