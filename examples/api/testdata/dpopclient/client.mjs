// A DPoP client (RFC 9449) of the example server, made with npm libraries:
// panva's "dpop" makes the proofs of a login, of GET /api/me and of a JSON
// refresh; "oauth4webapi" makes them for a protected resource request and a
// refresh token grant (a form body, RFC 6749 §6). Both sign with WebCrypto.
//
//   node client.mjs BASE_URL
//
// It prints one JSON object on stdout: what the server answered at each
// step. It exits non-zero only when it cannot run at all; judging the
// answers is the Go test's job (examples/api/e2e_dpop_node_test.go).

import * as DPoP from 'dpop'
import * as oauth from 'oauth4webapi'

const base = process.argv[2]
if (!base) {
  console.error('usage: node client.mjs BASE_URL')
  process.exit(2)
}

const credentials = { email: 'alice@example.com', password: 'correct horse battery staple' }

// send makes one request; proof, when given, goes in the DPoP header and
// token, when given, in "Authorization: <scheme> <token>".
async function send (method, path, { proof, token, scheme = 'DPoP', json } = {}) {
  const headers = {}
  if (proof) headers.DPoP = proof
  if (token) headers.Authorization = `${scheme} ${token}`
  let body
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(json)
  }
  const res = await fetch(base + path, { method, headers, body })
  return answer(res)
}

// answer is what the summary keeps of a response.
async function answer (res) {
  const text = await res.text()
  let body = null
  try { body = text ? JSON.parse(text) : null } catch { body = text }
  return {
    status: res.status,
    authorization: res.headers.get('authorization'),
    www_authenticate: res.headers.get('www-authenticate'),
    cache_control: res.headers.get('cache-control'),
    body
  }
}

// proofFor makes a proof with "dpop" for method and path, bound to token.
const proofFor = (keypair, method, path, token) => DPoP.generateProof(keypair, base + path, method, undefined, token)

const summary = {}
const keypair = await DPoP.generateKeyPair('ES256')
summary.jkt = await DPoP.calculateThumbprint(keypair.publicKey)

// "dpop": login, /api/me, a replayed proof, a refresh with a JSON body.
const login = await send('POST', '/api/login', { proof: await proofFor(keypair, 'POST', '/api/login'), json: credentials })
summary.login = login
const token = login.body?.token
const refreshToken = login.body?.refresh_token

const meProof = await proofFor(keypair, 'GET', '/api/me', token)
summary.me = await send('GET', '/api/me', { proof: meProof, token })
summary.me_replayed = await send('GET', '/api/me', { proof: meProof, token })
summary.me_as_bearer = await send('GET', '/api/me', { token, scheme: 'Bearer' })

summary.refresh = await send('POST', '/api/refresh', { proof: await proofFor(keypair, 'POST', '/api/refresh'), json: { refresh_token: refreshToken } })
const refreshed = summary.refresh.body?.token
summary.me_refreshed = await send('GET', '/api/me', { proof: await proofFor(keypair, 'GET', '/api/me', refreshed), token: refreshed })

// "oauth4webapi": the same key through its DPoP handle.
const client = { client_id: 'guardian-example-client' }
const as = { issuer: base, token_endpoint: base + '/api/refresh' }
const dpop = oauth.DPoP(client, keypair)
const insecure = { [oauth.allowInsecureRequests]: true } // the test server speaks http

// A protected resource request; oauth4webapi throws on a challenge.
async function resource (accessToken, options) {
  try {
    return await answer(await oauth.protectedResourceRequest(accessToken, 'GET', new URL(base + '/api/me'), undefined, undefined, { ...insecure, ...options }))
  } catch (err) {
    if (err instanceof oauth.WWWAuthenticateChallengeError) {
      return { status: err.status, challenges: err.cause }
    }
    throw err
  }
}
summary.oauth4webapi_me = await resource(refreshed, { DPoP: dpop })
summary.oauth4webapi_me_without_dpop = await resource(refreshed, {})

// The refresh token grant: a form body with grant_type, refresh_token and
// client_id. Its answer is read as it is: the server's body is the
// contract's ({"token", "token_type", "refresh_token", "exp"}), not an
// OAuth token response, so processRefreshTokenResponse would refuse it.
const grant = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), summary.refresh.body?.refresh_token, { ...insecure, DPoP: dpop })
summary.oauth4webapi_refresh = await answer(grant)
const granted = summary.oauth4webapi_refresh.body?.token
summary.oauth4webapi_me_refreshed = await resource(granted, { DPoP: dpop })

summary.logout = await send('POST', '/api/logout', { proof: await proofFor(keypair, 'POST', '/api/logout', granted), token: granted })
summary.me_after_logout = await send('GET', '/api/me', { proof: await proofFor(keypair, 'GET', '/api/me', granted), token: granted })

// An Ed25519 key: "dpop" signs its proofs with the fully-specified alg
// "Ed25519" (RFC 9864), not "EdDSA".
const edKeypair = await DPoP.generateKeyPair('Ed25519')
const edProof = await proofFor(edKeypair, 'POST', '/api/login')
summary.ed25519_alg = JSON.parse(Buffer.from(edProof.split('.')[0], 'base64url')).alg
summary.ed25519_login = await send('POST', '/api/login', { proof: edProof, json: credentials })

process.stdout.write(JSON.stringify(summary) + '\n')
