// Proves token keys (auth's JWKS) are fetched over every auth instance, not from the first URL
// only: two auth-like servers publishing the same keys on loopback, the first one down; a token
// signed with those keys still verifies (the keys came from the second), fetches spread over both
// when both are up, and with every instance down the verifier answers SERVICE_UNAVAILABLE
// (retryable) rather than calling the token invalid.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '@paygraph/identity';
import { authKeySource, authKeysFetch, type ServiceDirectory } from '../src';

const ISSUER = 'paygraph-auth';
const AUDIENCE = 'paygraph';
const KID = 'test-key';

interface AuthLike {
  url: string;
  port: number;
  jwksHits: number;
  server: Server;
  stop(): Promise<void>;
}

let privateKey: CryptoKey;
let jwks: { keys: unknown[] };
const started: AuthLike[] = [];

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  privateKey = pair.privateKey;
  jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: KID, alg: 'EdDSA', use: 'sig' }] };
});

/** Serves /.well-known/jwks.json and /health as auth does, counting key fetches. */
async function startAuthLike(): Promise<AuthLike> {
  const auth = { jwksHits: 0 } as AuthLike;
  auth.server = createServer((request, response) => {
    if (request.url === '/.well-known/jwks.json') {
      auth.jwksHits += 1;
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify(jwks));
      return;
    }
    if (request.url === '/health') {
      response.end('{"status":"ok"}');
      return;
    }
    response.statusCode = 404;
    response.end();
  });
  await new Promise<void>((resolve) => auth.server.listen(0, '127.0.0.1', () => resolve()));
  auth.port = (auth.server.address() as AddressInfo).port;
  auth.url = `http://127.0.0.1:${auth.port}/graphql`;
  auth.stop = async () => {
    auth.server.closeAllConnections();
    await new Promise<void>((resolve) => auth.server.close(() => resolve()));
  };
  started.push(auth);
  return auth;
}

/** Like the platform's directory: `url` is the first instance, `urls` all of them. */
const directoryOf = (...instances: AuthLike[]): ServiceDirectory => ({ url: () => instances[0]!.url, urls: () => instances.map((each) => each.url) });

const accessToken = () =>
  new SignJWT({ token_use: 'access', role: 'BUYER' })
    .setProtectedHeader({ alg: 'EdDSA', kid: KID })
    .setSubject('usr_1')
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);

const verifierFor = (directory: ServiceDirectory) => createTokenVerifier({ ...authKeySource(directory), issuer: ISSUER, audience: AUDIENCE });

afterEach(async () => {
  for (const auth of started.splice(0)) if (auth.server.listening) await auth.stop();
});

describe('token keys over every auth instance', () => {
  it('verifies a token with the first auth instance down: the keys come from the second', async () => {
    const [first, second] = [await startAuthLike(), await startAuthLike()];
    await first.stop();
    const verify = verifierFor(directoryOf(first, second));
    await expect(verify(`Bearer ${await accessToken()}`)).resolves.toEqual({ kind: 'user', userId: 'usr_1', role: 'BUYER' });
    expect(second.jwksHits).toBe(1);
    // A verifier built afterwards finds the first instance already out of rotation: straight to the second.
    await expect(verifierFor(directoryOf(first, second))(`Bearer ${await accessToken()}`)).resolves.toMatchObject({ userId: 'usr_1' });
    expect(second.jwksHits).toBe(2);
  });

  it('spreads key fetches over the instances while both are up', async () => {
    const [first, second] = [await startAuthLike(), await startAuthLike()];
    const fetchKeys = authKeysFetch(directoryOf(first, second));
    for (let index = 0; index < 4; index += 1) {
      const response = await fetchKeys(`${new URL(first.url).origin}/.well-known/jwks.json`, {
        method: 'GET',
        headers: new Headers({ accept: 'application/json' }),
        redirect: 'manual',
        signal: AbortSignal.timeout(1_000),
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual(jwks);
    }
    expect([first.jwksHits, second.jwksHits]).toEqual([2, 2]);
  });

  it('answers SERVICE_UNAVAILABLE, not an invalid token, when no auth instance answers', async () => {
    const [first, second] = [await startAuthLike(), await startAuthLike()];
    await first.stop();
    await second.stop();
    const verify = verifierFor(directoryOf(first, second));
    await expect(verify(`Bearer ${await accessToken()}`)).rejects.toMatchObject({ extensions: { code: 'SERVICE_UNAVAILABLE' } });
  });

  it('keeps AUTH_JWKS_URL, when set, as the one place keys come from', () => {
    const source = authKeySource({ url: () => 'http://auth-a/graphql', urls: () => ['http://auth-a/graphql', 'http://auth-b/graphql'] }, 'https://keys.example/jwks.json');
    expect(source).toEqual({ keys: 'https://keys.example/jwks.json' });
    expect(authKeySource({ url: () => 'http://auth-a/graphql' }).keys).toBe('http://auth-a/.well-known/jwks.json');
  });
});
