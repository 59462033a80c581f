// A DPoP client (RFC 9449) made with panva's oauth4webapi, for guardian's
// end-to-end tests of examples/resource (e2e_dpop_client_test.go). It gets an
// access token bound to a fresh ES256 key from an authorization server with
// the client_credentials grant, calls the resource server with it as DPoP
// and then as Bearer, and prints what happened as one JSON object on stdout.
//
// Configuration (environment variables, all required):
//
//   ISSUER         the authorization server's issuer identifier (discovery)
//   CLIENT_ID      a confidential client of it (client_secret_basic)
//   CLIENT_SECRET  its secret
//   RESOURCE       the resource indicator to ask a token for (its audience)
//   SCOPE          the scope to ask for, e.g. "read write"
//   API            the resource server's base URL, e.g. http://127.0.0.1:8081
//
// Output: {"library": {"name", "version"}, "thumbprint": <the key's RFC 7638
// thumbprint>, "token": {"token_type", "scope", "cnf_jkt"}, "nonce_retries":
// {<step>: <count>}, "calls": [{"name", "scheme", "method", "path",
// "status", "www_authenticate", "challenges", "body"}]}. A call refused
// with a challenge keeps the challenges as oauth4webapi parsed them. Any
// other failure is printed on stderr, with exit status 1.
//
// The authorization server may require its DPoP nonce: a request refused
// with use_dpop_nonce is made once more, oauth4webapi's DPoP handle having
// remembered the nonce (isDPoPNonceError).

import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';

import * as oauth from 'oauth4webapi';

const env = {};
for (const name of ['ISSUER', 'CLIENT_ID', 'CLIENT_SECRET', 'RESOURCE', 'SCOPE', 'API']) {
  if (!process.env[name]) {
    console.error(`client.mjs: ${name} is required`);
    process.exit(2);
  }
  env[name] = process.env[name];
}

// The test servers listen on http://127.0.0.1.
const insecure = { [oauth.allowInsecureRequests]: true };
const nonceRetries = {};

// withNonceRetry runs request, and once more if the server asked for its
// DPoP nonce (the handle has it now).
async function withNonceRetry(step, request) {
  try {
    return await request();
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) {
      throw err;
    }
    nonceRetries[step] = (nonceRetries[step] ?? 0) + 1;
    return request();
  }
}

// call sends one request to the resource server, as DPoP with the handle
// dpop, or as Bearer when dpop is undefined, and records its outcome.
async function call(name, method, path, accessToken, dpop, body) {
  const headers = new Headers({ accept: 'application/json' });
  if (body !== undefined) {
    headers.set('content-type', 'application/json');
  }
  let response;
  let challenges = null;
  try {
    response = await withNonceRetry(name, () => oauth.protectedResourceRequest(
      accessToken,
      method,
      new URL(path, env.API),
      headers,
      body === undefined ? undefined : JSON.stringify(body),
      { ...insecure, DPoP: dpop },
    ));
  } catch (err) {
    if (!(err instanceof oauth.WWWAuthenticateChallengeError)) {
      throw err;
    }
    ({ response } = err);
    challenges = err.cause;
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return {
    name,
    scheme: dpop ? 'DPoP' : 'Bearer',
    method,
    path,
    status: response.status,
    www_authenticate: response.headers.get('www-authenticate'),
    challenges,
    body: parsed,
  };
}

// claimsOf decodes a JWT's payload, unverified: to report its cnf.jkt.
function claimsOf(jwt) {
  const payload = jwt.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
}

async function main() {
  const issuer = new URL(env.ISSUER);
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oidc' }),
  );
  const client = { client_id: env.CLIENT_ID };
  const clientAuth = oauth.ClientSecretBasic(env.CLIENT_SECRET);
  const keyPair = await oauth.generateKeyPair('ES256');
  const dpop = oauth.DPoP(client, keyPair);

  const token = await withNonceRetry('token', async () => {
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      client,
      clientAuth,
      new URLSearchParams({ scope: env.SCOPE, resource: env.RESOURCE }),
      { ...insecure, DPoP: dpop },
    );
    return oauth.processClientCredentialsResponse(as, client, response);
  });

  const at = token.access_token;
  const calls = [
    await call('whoami with DPoP', 'GET', '/api/whoami', at, dpop),
    await call('items with DPoP', 'GET', '/api/items', at, dpop),
    await call('add an item with DPoP', 'POST', '/api/items', at, dpop, { name: 'oauth4webapi item' }),
    await call('whoami as Bearer', 'GET', '/api/whoami', at, undefined),
    await call('items as Bearer', 'GET', '/api/items', at, undefined),
  ];

  const lib = JSON.parse(readFileSync(new URL('./node_modules/oauth4webapi/package.json', import.meta.url), 'utf8'));
  const summary = {
    library: { name: lib.name, version: lib.version },
    thumbprint: await dpop.calculateThumbprint(),
    token: {
      token_type: token.token_type,
      scope: token.scope ?? null,
      cnf_jkt: claimsOf(at).cnf?.jkt ?? null,
    },
    nonce_retries: nonceRetries,
    calls,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

main().catch((err) => {
  console.error('client.mjs:', err?.stack ?? err, err?.cause ? JSON.stringify(err.cause) : '');
  process.exit(1);
});
