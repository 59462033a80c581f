// A real, certified OpenID Connect authorization server (oidc-provider) for
// guardian's end-to-end tests. It issues RFC 9068 JWT access tokens through
// the client_credentials grant; examples/resource/internal/testas starts it.
// A token request that carries a DPoP proof (RFC 9449) gets an access token
// bound to the proof's key (cnf.jkt, token_type DPoP).
//
// Configuration (environment variables):
//
//   PORT          listen on 127.0.0.1:PORT (required)
//   ISSUER        the issuer identifier, e.g. http://127.0.0.1:PORT
//                 (default: http://127.0.0.1:PORT)
//   KEYS_FILE     path to a JSON file {"keys": [<private JWKs>]}; the
//                 provider's `jwks`. For each alg the first key signs, the
//                 others are only published in the JWKS (required)
//   CLIENTS_JSON  optional JSON array of clients:
//                 [{"client_id", "client_secret", "alg", "scope"?, "dpop_bound"?}]
//                 (default: svc-rs/RS256 and svc-es/ES256, which may ask
//                 for DPoP-bound tokens, and svc-dpop/ES256, which must:
//                 dpop_bound_access_tokens; scope "read write")
//   DPOP_NONCE_SECRET  optional 64 hex digits (32 bytes): server nonces
//                 for DPoP (RFC 9449 §8). A token request whose proof has
//                 no valid nonce is then answered 400 use_dpop_nonce with
//                 the nonce to use in a DPoP-Nonce header
//                 (default: no nonces)
//   DEFAULT_RESOURCE  the audience used when a token request names no
//                 resource (default: https://api.example.com)
//   TOKEN_TTL     access token lifetime in seconds (default: 600)
//
// On success it prints exactly one line "ready <port>" on stdout (oidc-provider
// may print NOTICE lines there too) and exits 0 on SIGTERM or SIGINT.

import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const port = Number.parseInt(process.env.PORT ?? '', 10);
if (!Number.isInteger(port) || port <= 0) {
  console.error('provider.mjs: PORT must be a port number');
  process.exit(2);
}
if (!process.env.KEYS_FILE) {
  console.error('provider.mjs: KEYS_FILE must name a JWKS file');
  process.exit(2);
}

const issuer = process.env.ISSUER || `http://127.0.0.1:${port}`;
const jwks = JSON.parse(readFileSync(process.env.KEYS_FILE, 'utf8'));
const defaultAudience = process.env.DEFAULT_RESOURCE || 'https://api.example.com';
const tokenTTL = Number.parseInt(process.env.TOKEN_TTL || '600', 10);

// The test clients. "alg" is ours, not client metadata: it picks the JWS
// algorithm of the access tokens issued to that client.
const clients = process.env.CLIENTS_JSON
  ? JSON.parse(process.env.CLIENTS_JSON)
  : [
    { client_id: 'svc-rs', client_secret: 'svc-rs-secret', alg: 'RS256' },
    { client_id: 'svc-es', client_secret: 'svc-es-secret', alg: 'ES256' },
    { client_id: 'svc-dpop', client_secret: 'svc-dpop-secret', alg: 'ES256', dpop_bound: true },
  ];
const algByClient = new Map(clients.map((c) => [c.client_id, c.alg || 'RS256']));

// DPoP server nonces: oidc-provider wants the secret as a 32-byte Buffer.
let nonceSecret;
if (process.env.DPOP_NONCE_SECRET) {
  nonceSecret = Buffer.from(process.env.DPOP_NONCE_SECRET, 'hex');
  if (nonceSecret.length !== 32) {
    console.error('provider.mjs: DPOP_NONCE_SECRET must be 64 hex digits');
    process.exit(2);
  }
}

const provider = new Provider(issuer, {
  jwks,
  // "read" and "write" are static scopes, so a client's `scope` metadata is
  // enforced: asking for anything else is invalid_scope.
  scopes: ['openid', 'offline_access', 'read', 'write'],
  clients: clients.map(({ client_id, client_secret, scope, dpop_bound }) => ({
    client_id,
    client_secret,
    scope: scope || 'read write',
    // true: every token request must carry a DPoP proof (RFC 9449 §5.2).
    dpop_bound_access_tokens: Boolean(dpop_bound),
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  // Access token lifetime (accessTokenTTL below takes precedence).
  ttl: {
    ClientCredentials: tokenTTL,
    AccessToken: tokenTTL,
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // RFC 9449. On by default in oidc-provider 9; said here because the
    // tests depend on it. A proof is optional for svc-rs and svc-es (a
    // request with one gets a bound token), required for svc-dpop. With a
    // nonce secret every proof must carry a server nonce; the proof's iat
    // must otherwise be within 300 s of now.
    dPoP: {
      enabled: true,
      nonceSecret,
      requireNonce: () => nonceSecret !== undefined,
    },
    resourceIndicators: {
      enabled: true,
      // Without a resource parameter the token would be opaque (no audience),
      // so default to the test API.
      defaultResource: async () => defaultAudience,
      // Any absolute URI is a resource server whose audience is the indicator
      // itself; the token is a JWT (typ at+jwt) signed with the client's alg.
      getResourceServerInfo: async (_ctx, resourceIndicator, client) => ({
        audience: resourceIndicator,
        scope: 'read write',
        accessTokenFormat: 'jwt',
        accessTokenTTL: tokenTTL,
        jwt: { sign: { alg: algByClient.get(client.clientId) || 'RS256' } },
      }),
    },
  },
});

// Log server-side errors to stderr so the Go harness can show them.
provider.on('server_error', (_ctx, err) => console.error('server_error:', err));
provider.on('grant.error', (_ctx, err) => console.error('grant.error:', err.message, err.error_description ?? ''));

const server = createServer(provider.callback());
server.listen(port, '127.0.0.1', () => {
  console.log(`ready ${server.address().port}`);
});

// Stop at once: drop keep-alive connections so close() does not wait.
function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
