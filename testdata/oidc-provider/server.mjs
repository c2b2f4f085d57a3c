// Test-only OpenID Provider for authwatch end-to-end tests, built on the
// npm package oidc-provider. Every client secret, password and key here is a
// throwaway test value: never deploy this.
//
//   node server.mjs [--port N] [--issuer URL]
//
// See README.md for the clients, users and environment switches. Once it is
// listening on 127.0.0.1 it prints two lines on stdout, and nothing else:
//   LISTEN http://127.0.0.1:<port>
//   READY <issuer>
// Everything else (oidc-provider's own notices, the "Unsupported runtime"
// warning on Node 20, LOG=1 request lines) goes to stderr.

import { X509Certificate, createHash, createHmac, createPrivateKey, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Keep stdout for the LISTEN and READY lines: oidc-provider prints notices
// with console.info.
console.info = console.error;
console.log = console.error;

const { default: Provider, errors } = await import('oidc-provider');

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;

// ---------------------------------------------------------------- options

function argOrEnv(flag, name, fallback) {
  const i = process.argv.indexOf(flag);
  if (i !== -1 && i + 1 < process.argv.length) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`${flag}=`));
  if (eq) return eq.slice(flag.length + 1);
  if (env[name] !== undefined && env[name] !== '') return env[name];
  return fallback;
}

function seconds(name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${name} must be a whole number of seconds >= 1, got ${JSON.stringify(raw)}`);
  }
  return n;
}

const port = Number(argOrEnv('--port', 'PORT', '0'));
const issuerTemplate = argOrEnv('--issuer', 'ISSUER', 'http://127.0.0.1:{port}');

function oneOf(name, allowed) {
  const raw = env[name];
  if (raw === undefined || raw === '') return allowed[0];
  if (!allowed.includes(raw)) {
    throw new Error(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return raw;
}

const TTL = {
  accessToken: seconds('ACCESS_TOKEN_TTL', 3600),
  refreshToken: seconds('REFRESH_TOKEN_TTL', 24 * 3600),
  idToken: seconds('ID_TOKEN_TTL', 3600),
  authorizationCode: seconds('AUTH_CODE_TTL', 60),
  deviceCode: seconds('DEVICE_CODE_TTL', 600),
};

// How the login page looks (README.md, "Login styles") and whether consent
// is granted without asking.
const LOGIN_STYLE = oneOf('LOGIN_STYLE', ['password', 'identifier-first', 'spa']);
const CONSENT = oneOf('CONSENT', ['auto', 'page', 'script']);

// Refresh token rotation (README.md, "Environment"): on (oidc-provider's
// rotateRefreshToken, with reuse detection), off (the same refresh token
// comes back), or keep-old: rotates but the replaced token keeps working, a
// security bug some IdPs have (revocation_ineffective).
const REFRESH_ROTATION = oneOf('REFRESH_ROTATION', ['on', 'off', 'keep-old']);

// Device flow polling interval, announced in the device authorization
// response and enforced on the token endpoint (slow_down).
const DEVICE_INTERVAL = seconds('DEVICE_INTERVAL', 5);

// DPoP (RFC 9449, README.md "Environment"): on (oidc-provider's default:
// proofs honoured, tokens bound), nonce (every proof must carry a server
// nonce: use_dpop_nonce first) or off (proofs ignored: Bearer tokens).
const DPOP = oneOf('DPOP', ['on', 'nonce', 'off']);

// Pushed authorization requests (RFC 9126, README.md "Environment"): PAR=on
// (oidc-provider's default: offered, not required), required (discovery
// says require_pushed_authorization_requests and plain authorization
// requests are refused) or off (no PAR endpoint).
const PAR = oneOf('PAR', ['on', 'required', 'off']);

// carol's fixed one-time code, accepted besides her TOTP so that older tests
// keep working; STATIC_OTP=off leaves only the TOTP.
const STATIC_OTP = (() => {
  const raw = env.STATIC_OTP;
  if (raw === undefined || raw === '') return '123456';
  if (raw === 'off') return undefined;
  if (!/^[0-9]{6}$/.test(raw)) throw new Error(`STATIC_OTP must be 6 digits or off, got ${JSON.stringify(raw)}`);
  return raw;
})();

// ---------------------------------------------------------------- keys

// RFC 7638 thumbprint, so a kid names exactly one key.
function thumbprint(jwk) {
  const json = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
  return createHash('sha256').update(json).digest('base64url');
}

// One generated RSA key per key set name, kept in KEY_DIR so the same name
// gives the same key (and kid) on every start.
function loadOrCreateKey(dir, name) {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(name)) {
    throw new Error(`KEY_SET names must match [A-Za-z0-9_-]{1,40}, got ${JSON.stringify(name)}`);
  }
  const file = join(dir, `${name}.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  mkdirSync(dir, { recursive: true });
  // PEM out, then a fresh KeyObject: exporting the generated KeyObject
  // itself as JWK can deadlock Node 20 (a GC inside ExportJWK runs the
  // finished key generation job's destructor, which takes the mutex the
  // export holds; seen as a node that never prints READY).
  const { privateKey: pem } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const jwk = createPrivateKey(pem).export({ format: 'jwk' });
  const key = { ...jwk, kid: `test-${name}-${thumbprint(jwk).slice(0, 8)}`, alg: 'RS256', use: 'sig' };
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(key), { mode: 0o600 });
  try {
    linkSync(tmp, file); // fails with EEXIST if a concurrent start won the race
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
  }
  return JSON.parse(readFileSync(file, 'utf8'));
}

function loadKeys() {
  if (env.JWKS_KEYS) {
    const parsed = JSON.parse(readFileSync(env.JWKS_KEYS, 'utf8'));
    const keys = Array.isArray(parsed) ? parsed : parsed.keys;
    if (!Array.isArray(keys) || keys.length === 0) {
      throw new Error(`JWKS_KEYS=${env.JWKS_KEYS}: expected {"keys":[...private JWKs...]}`);
    }
    return keys;
  }
  const dir = env.KEY_DIR || join(here, '.keys');
  const names = (env.KEY_SET || 'a').split(',').map((s) => s.trim()).filter(Boolean);
  return names.map((name) => loadOrCreateKey(dir, name));
}

const keys = loadKeys();

// ---------------------------------------------------------------- resources

const API = 'https://api.example.test/';
const BILLING = 'https://billing.example.test/';
const OPAQUE_API = 'https://opaque.example.test/';

const RESOURCE_SERVERS = {
  [API]: { scope: 'api:read api:write', accessTokenFormat: 'jwt' },
  [BILLING]: { scope: 'billing:read', accessTokenFormat: 'jwt' },
  [OPAQUE_API]: { scope: 'api:read', accessTokenFormat: 'opaque' },
};

// ---------------------------------------------------------------- baseline drift (issue 18)

// Switches that change what a passing flow sees, as an IdP's new
// configuration would, for the baseline_changed tests (README.md,
// "Environment"). Unset, nothing changes.
//   API_SCOPES   the scopes the API resource offers (default 'api:read
//                api:write'): a requested scope left out is silently not granted
//   SIGNING_ALG  RS256 (default) or PS256: JWT access tokens are signed with
//                it, by the first key, published with it as its alg (give
//                KEY_SET two keys: ID tokens keep RS256, with the second)
const SIGNING_ALG = oneOf('SIGNING_ALG', ['RS256', 'PS256']);
if (env.API_SCOPES !== undefined && env.API_SCOPES !== '') RESOURCE_SERVERS[API].scope = env.API_SCOPES;
if (SIGNING_ALG !== 'RS256') keys[0] = { ...keys[0], alg: SIGNING_ALG };

// ---------------------------------------------------------------- clients

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const loopback = ['http://127.0.0.1/callback', 'http://localhost/callback'];
const extraRedirects = (env.REDIRECT_URIS || '').split(/[\s,]+/).filter(Boolean);

const clients = [
  {
    client_id: 'cc-client',
    client_secret: 'cc-secret',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'api:read api:write billing:read',
  },
  {
    client_id: 'cc-post-client',
    client_secret: 'cc-post-secret',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_post',
    scope: 'api:read api:write billing:read',
  },
  {
    client_id: 'cc-read-client',
    client_secret: 'cc-read-secret',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'api:read',
  },
  {
    // Authorization code + PKCE + refresh tokens. A native client: any port on
    // the loopback redirect URIs matches (RFC 8252 section 7.3).
    client_id: 'app-client',
    client_secret: 'app-secret',
    application_type: 'native',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [...loopback, ...extraRedirects],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'openid profile email offline_access api:read api:write billing:read',
  },
  {
    client_id: 'public-client',
    application_type: 'native',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [...loopback, ...extraRedirects],
    token_endpoint_auth_method: 'none',
    scope: 'openid profile email offline_access api:read api:write',
  },
  {
    // Registered for signed userinfo (OIDC Core 5.3.2): userinfo answers
    // application/jwt, signed with the provider's key.
    client_id: 'signed-userinfo-client',
    application_type: 'native',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [...loopback, ...extraRedirects],
    token_endpoint_auth_method: 'none',
    userinfo_signed_response_alg: 'RS256',
    scope: 'openid profile email',
  },
  {
    // Not allowed client_credentials: asking for it gives unauthorized_client.
    client_id: 'no-cc-client',
    client_secret: 'no-cc-secret',
    application_type: 'native',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [...loopback, ...extraRedirects],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'openid api:read',
  },
  {
    // Device authorization grant (RFC 8628), public: the device has no secret.
    client_id: 'device-client',
    grant_types: [DEVICE_GRANT, 'refresh_token'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'none',
    scope: 'openid profile email offline_access api:read',
  },
  {
    client_id: 'device-app',
    client_secret: 'device-secret',
    grant_types: [DEVICE_GRANT, 'refresh_token'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'openid profile email offline_access api:read',
  },
];

// EXTRA_CLIENTS: a JSON file with more client metadata (an array), e.g.
// private_key_jwt clients with the public JWKS of keys a test generated.
if (env.EXTRA_CLIENTS) clients.push(...JSON.parse(readFileSync(env.EXTRA_CLIENTS, 'utf8')));

// ---------------------------------------------------------------- accounts

// carol's TOTP secret (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps), base32.
// A well-known throwaway test value.
const CAROL_TOTP_SECRET = 'JBSWY3DPEHPK3PXP';

const USERS = {
  alice: { password: 'alice-password', claims: { name: 'Alice Test', email: 'alice@example.test', email_verified: true } },
  locked: { password: 'locked-password', locked: true, claims: { name: 'Locked Test' } },
  carol: { password: 'carol-password', totp: CAROL_TOTP_SECRET, claims: { name: 'Carol Test', email: 'carol@example.test', email_verified: true } },
  disabled: { password: 'disabled-password', disabled: true, claims: { name: 'Disabled Test' } },
  dave: { password: 'dave-password', claims: { name: 'Dave Test', email: 'dave@example.test', email_verified: true } },
  // Password expired: after the right password the login asks for a new
  // one (Keycloak's "Update password" required action).
  expired: { password: 'expired-password', passwordExpired: true, claims: { name: 'Expired Test' } },
};

// Logins that changed a password on the update page (none may: the
// monitor must never change the synthetic user's password).
let passwordChanges = 0;

function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of s.toUpperCase().replace(/=+$/, '')) {
    const i = alphabet.indexOf(c);
    if (i === -1) throw new Error(`bad base32 character ${JSON.stringify(c)}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// RFC 4226 HOTP value for counter, 6 digits.
function hotp(key, counter) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const h = createHmac('sha1', key).update(msg).digest();
  const off = h[h.length - 1] & 0x0f;
  const bin = ((h[off] & 0x7f) << 24) | (h[off + 1] << 16) | (h[off + 2] << 8) | h[off + 3];
  return String(bin % 1_000_000).padStart(6, '0');
}

// RFC 6238 with the current step and one step either side (clock drift).
// Codes may be reused within their window (no replay cache), so a monitor
// can log in more than once per 30 s.
function verifyTotp(secret, code) {
  if (!/^[0-9]{6}$/.test(code)) return false;
  const key = base32Decode(secret);
  const step = Math.floor(Date.now() / 1000 / 30);
  let ok = false;
  for (const d of [-1, 0, 1]) {
    if (timingSafeEqual(Buffer.from(hotp(key, step + d)), Buffer.from(code))) ok = true;
  }
  return ok;
}

function otpValid(user, code) {
  if (STATIC_OTP !== undefined && code === STATIC_OTP) return true;
  return Boolean(user.totp) && verifyTotp(user.totp, code);
}

async function findAccount(_ctx, id) {
  const user = USERS[id];
  if (!user) return undefined;
  return {
    accountId: id,
    async claims() {
      return { sub: id, ...user.claims };
    },
  };
}

// ---------------------------------------------------------------- mutual TLS (MTLS=1)

// MTLS=1 turns on RFC 8705 (features.mTLS: tls_client_auth,
// self_signed_tls_client_auth, certificate-bound access tokens). This server
// speaks plain HTTP, so a TLS-terminating proxy in front of it (nginx with
// ssl_verify_client) asks for the client certificate and passes it on in
// headers, as deployments behind a proxy do:
//   proxy_set_header X-SSL-Client-Cert   $ssl_client_escaped_cert;
//   proxy_set_header X-SSL-Client-Verify $ssl_client_verify;
//   proxy_set_header X-SSL-Client-S-DN   $ssl_client_s_dn;
// TEST ONLY: anyone who reaches this port directly can forge the headers.
// MTLS_ENDPOINT_ALIASES_FILE names a JSON file ({"token_endpoint": ...}),
// read on every discovery request, published as mtls_endpoint_aliases; a
// test writes it once it knows the proxy's port.
const MTLS = env.MTLS === '1';

function mtlsCertificate(ctx) {
  const raw = ctx.get('x-ssl-client-cert');
  if (!raw) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

function withMTLS(config) {
  if (!MTLS) return config;
  config.clientAuthMethods = ['client_secret_basic', 'client_secret_jwt', 'client_secret_post', 'private_key_jwt', 'none',
    'tls_client_auth', 'self_signed_tls_client_auth'];
  config.features.mTLS = {
    enabled: true,
    certificateBoundAccessTokens: true,
    tlsClientAuth: true,
    selfSignedTlsClientAuth: true,
    getCertificate: mtlsCertificate,
    certificateAuthorized: (ctx) => ctx.get('x-ssl-client-verify') === 'SUCCESS',
    certificateSubjectMatches: (ctx, property, expected) => {
      if (property === 'tls_client_auth_subject_dn') return ctx.get('x-ssl-client-s-dn') === expected;
      if (property === 'tls_client_auth_san_dns') {
        const pem = mtlsCertificate(ctx);
        return Boolean(pem) && new X509Certificate(pem).checkHost(expected, { subject: 'never' }) === expected;
      }
      return false;
    },
  };
  return config;
}

function useMTLS(provider) {
  if (!MTLS || !env.MTLS_ENDPOINT_ALIASES_FILE) return;
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path !== '/.well-known/openid-configuration' || ctx.status !== 200 || !ctx.body) return;
    try {
      ctx.body = { ...ctx.body, mtls_endpoint_aliases: JSON.parse(readFileSync(env.MTLS_ENDPOINT_ALIASES_FILE, 'utf8')) };
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
  });
}

// ---------------------------------------------------------------- end of mutual TLS

// ---------------------------------------------------------------- provider config

function configuration() {
  return {
    clients,
    jwks: { keys },
    findAccount,
    scopes: ['openid', 'offline_access', 'api:read', 'api:write', 'billing:read'],
    claims: {
      openid: ['sub'],
      profile: ['name'],
      email: ['email', 'email_verified'],
    },
    cookies: { keys: ['authwatch-test-only-cookie-key'] },
    pkce: { required: () => true },
    rotateRefreshToken: REFRESH_ROTATION !== 'off',
    // oidc-provider's default issues refresh tokens only for offline_access,
    // which it keeps only when the request also says prompt=consent. Issue one
    // to every client allowed the refresh_token grant instead.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    responseTypes: ['code', 'none'],
    clientBasedCORS: (_ctx, origin) => origin !== 'null',
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', `<h1>Error</h1><p class="error">${esc(out.error)}: ${esc(out.error_description || '')}</p>`);
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL || TTL.accessToken,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL || TTL.accessToken,
      AuthorizationCode: TTL.authorizationCode,
      DeviceCode: TTL.deviceCode,
      IdToken: TTL.idToken,
      RefreshToken: TTL.refreshToken,
      Interaction: 3600,
      Session: 24 * 3600,
      Grant: 24 * 3600,
    },
    features: {
      devInteractions: { enabled: false },
      dPoP: {
        enabled: DPOP !== 'off',
        ...(DPOP === 'nonce' ? { nonceSecret: randomBytes(32), requireNonce: () => true } : {}),
      },
      pushedAuthorizationRequests: {
        enabled: PAR !== 'off',
        requirePushedAuthorizationRequests: PAR === 'required',
      },
      clientCredentials: { enabled: true },
      jwtUserinfo: { enabled: true },
      // RFC 8628 at /device/auth (device authorization) and /device
      // (verification_uri). oidc-provider supplies the forms (with their
      // hidden xsrf input); these sources only wrap them in a page.
      deviceFlow: {
        enabled: true,
        userCodeInputSource,
        userCodeConfirmSource,
        successSource,
      },
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      introspection: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => client.clientAuthMethod !== 'none' || token.clientId === client.clientId,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => (oneOf ? oneOf[0] : undefined),
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resource, client) => {
          const rs = RESOURCE_SERVERS[resource];
          if (!rs) throw new errors.InvalidTarget(`unknown resource ${resource}`);
          // Only the scopes this client may have are offered for this resource.
          const allowed = new Set((client.scope || '').split(' '));
          const scope = rs.scope.split(' ').filter((s) => allowed.has(s)).join(' ');
          const info = { scope, audience: resource, accessTokenTTL: TTL.accessToken, accessTokenFormat: rs.accessTokenFormat };
          if (rs.accessTokenFormat === 'jwt') info.jwt = { sign: { alg: SIGNING_ALG } };
          return info;
        },
      },
    },
  };
}

// ---------------------------------------------------------------- interactions (login form)

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function page(title, body) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body>
${body}
</body></html>
`;
}

function errorLine(error) {
  return error ? `<p class="error" role="alert">${esc(error)}</p>` : '';
}

// LOGIN_STYLE=password (default): username and password on one page.
function loginPage(uid, { error, login = '' } = {}) {
  return page('Sign in', `<h1>Sign in</h1>
${errorLine(error)}
<form id="login-form" method="post" action="/interaction/${esc(uid)}/login">
  <label>Username <input type="text" name="login" value="${esc(login)}" autofocus></label>
  <label>Password <input type="password" name="password"></label>
  <button type="submit">Sign in</button>
</form>`);
}

// LOGIN_STYLE=identifier-first, first page: the username only.
function identifierPage(uid, { error, login = '' } = {}) {
  return page('Sign in', `<h1>Sign in</h1>
${errorLine(error)}
<form id="identifier-form" method="post" action="/interaction/${esc(uid)}/identify">
  <label>Username <input type="text" name="login" value="${esc(login)}" autocomplete="username" autofocus></label>
  <button type="submit">Next</button>
</form>`);
}

// LOGIN_STYLE=identifier-first, second page: the password for a username.
function passwordStepPage(uid, login, { error } = {}) {
  return page('Enter your password', `<h1>Enter your password</h1>
${errorLine(error)}
<p>Signing in as <strong id="login-name">${esc(login)}</strong></p>
<form id="password-form" method="post" action="/interaction/${esc(uid)}/login">
  <input type="hidden" name="login" value="${esc(login)}">
  <label>Password <input type="password" name="password" autocomplete="current-password" autofocus></label>
  <button type="submit">Sign in</button>
</form>`);
}

// LOGIN_STYLE=spa: no form until /interaction-assets/login.js builds it.
function spaPage(uid, { error, login = '' } = {}) {
  return page('Sign in', `<h1>Sign in</h1>
${errorLine(error)}
<div id="login-app" data-action="/interaction/${esc(uid)}/login" data-login="${esc(login)}"></div>
<noscript><p>This sign-in page needs JavaScript.</p></noscript>
<script src="/interaction-assets/login.js" defer></script>`);
}

// Builds the same form as loginPage inside #login-app.
const SPA_SCRIPT = `(function () {
  'use strict';
  function build() {
    var app = document.getElementById('login-app');
    if (!app || app.querySelector('form')) return;
    var form = document.createElement('form');
    form.id = 'login-form';
    form.method = 'post';
    form.action = app.getAttribute('data-action');
    function field(label, type, name, value) {
      var l = document.createElement('label');
      l.appendChild(document.createTextNode(label + ' '));
      var input = document.createElement('input');
      input.type = type;
      input.name = name;
      input.value = value;
      l.appendChild(input);
      form.appendChild(l);
      form.appendChild(document.createTextNode(' '));
      return input;
    }
    var user = field('Username', 'text', 'login', app.getAttribute('data-login') || '');
    field('Password', 'password', 'password', '');
    var button = document.createElement('button');
    button.type = 'submit';
    button.textContent = 'Sign in';
    form.appendChild(button);
    app.appendChild(form);
    user.focus();
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', build);
  } else {
    build();
  }
})();
`;

// The login page of LOGIN_STYLE, again after a failed attempt.
function loginStylePage(uid, opts = {}) {
  if (LOGIN_STYLE === 'spa') return spaPage(uid, opts);
  if (LOGIN_STYLE === 'identifier-first') {
    return opts.login ? passwordStepPage(uid, opts.login, opts) : identifierPage(uid, opts);
  }
  return loginPage(uid, opts);
}

function updatePasswordPage(uid) {
  return page('Update password', `<h1>Update password</h1>
<div class="alert alert-warning"><span class="kc-feedback-text">You need to change your password to activate your account.</span></div>
<form id="kc-passwd-update-form" method="post" action="/interaction/${esc(uid)}/password">
  <label>New Password <input type="password" id="password-new" name="password-new" autocomplete="new-password"></label>
  <label>Confirm password <input type="password" id="password-confirm" name="password-confirm" autocomplete="new-password"></label>
  <button type="submit">Submit</button>
</form>`);
}

function otpPage(uid, { error } = {}) {
  return page('Two-step verification', `<h1>Two-step verification</h1>
<p>Enter the one-time code from your authenticator app.</p>
${errorLine(error)}
<form id="otp-form" method="post" action="/interaction/${esc(uid)}/otp">
  <label>Code <input type="text" name="otp" inputmode="numeric" autocomplete="one-time-code"></label>
  <button type="submit">Verify</button>
</form>`);
}

// CONSENT=page.
function consentPage(uid, details) {
  const { params, prompt: { details: missing } } = details;
  const scopes = [...new Set([
    ...(missing.missingOIDCScope || []),
    ...Object.values(missing.missingResourceScopes || {}).flat(),
  ])];
  return page('Authorize access', `<h1>Authorize access</h1>
<p><strong id="consent-client">${esc(params.client_id)}</strong> asks for:</p>
<ul id="consent-scopes">${scopes.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>
<form id="consent-form" method="post" action="/interaction/${esc(uid)}/consent">
  <button type="submit" name="decision" value="allow" autofocus>Allow</button>
  <button type="submit" name="decision" value="deny">Deny</button>
</form>`);
}

// CONSENT=script: the same question with no form and no link: the "Grant
// access" button is a script that builds and posts the decision.
function consentScriptPage(uid, details) {
  return page('Authorize access', `<h1>Authorize access</h1>
<p><strong id="consent-client">${esc(details.params.client_id)}</strong> asks for access.</p>
<div class="actions"><button type="button" id="grant" data-action="/interaction/${esc(uid)}/consent">Grant access</button></div>
<script>
document.getElementById('grant').addEventListener('click', (ev) => {
  const f = document.createElement('form');
  f.method = 'post';
  f.action = ev.target.dataset.action;
  const d = document.createElement('input');
  d.type = 'hidden'; d.name = 'decision'; d.value = 'allow';
  f.appendChild(d);
  document.body.appendChild(f);
  f.submit();
});
</script>`);
}

// ---------------------------------------------------------------- device flow pages

// form is oidc-provider's <form id="op.deviceInputForm"> with the hidden
// xsrf input and the user_code text input; a submit button goes inside it.
async function userCodeInputSource(ctx, form, _out, err) {
  let msg;
  if (err && (err.userCode || err.name === 'NoCodeError')) {
    msg = '<p class="error" role="alert">The code you entered is incorrect. Try again</p>';
  } else if (err && err.name === 'AbortedError') {
    msg = '<p class="error" role="alert">The Sign-in request was interrupted</p>';
  } else if (err) {
    msg = '<p class="error" role="alert">There was an error processing your request</p>';
  } else {
    msg = '<p>Enter the code displayed on your device</p>';
  }
  ctx.type = 'html';
  ctx.body = page('Device sign-in', `<h1>Device sign-in</h1>
${msg}
${form.replace('</form>', '  <button type="submit">Continue</button>\n</form>')}`);
}

// form is oidc-provider's <form id="op.deviceConfirmForm"> with hidden xsrf,
// user_code and confirm=yes inputs; Continue submits it as is, Abort adds
// abort=yes.
async function userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
  ctx.type = 'html';
  ctx.body = page('Confirm device', `<h1>Confirm device</h1>
<p><strong id="device-client">${esc(client.clientName || client.clientId)}</strong> wants to sign in.
Check that your device shows this code: <code id="user-code">${esc(userCode)}</code></p>
${form.replace('</form>', `  <button type="submit" autofocus>Continue</button>
  <button type="submit" name="abort" value="yes">Abort</button>
</form>`)}`);
}

async function successSource(ctx) {
  ctx.type = 'html';
  ctx.body = page('Sign-in Success', `<h1>Sign-in Success</h1>
<p>Your device is signed in. You can close this page.</p>`);
}

// ---------------------------------------------------------------- interaction handler

function send(res, status, html, headers = {}) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.end(html);
}

// The SPA shell allows only scripts served from here, as a stricter real
// IdP would: the form must come from /interaction-assets/login.js.
function sendLogin(res, uid, opts) {
  const headers = LOGIN_STYLE === 'spa' ? { 'Content-Security-Policy': "script-src 'self'" } : {};
  return send(res, 200, loginStylePage(uid, opts), headers);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw Object.assign(new Error('request body too large'), { statusCode: 413 });
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// Accounts that passed the password step but still owe a one-time code, and
// (identifier-first) usernames entered on the first page, keyed by
// interaction uid. In memory, like everything else here.
const pendingOtp = new Map();
// Interactions whose user must set a new password (USERS[...].passwordExpired).
const pendingPassword = new Map();
const pendingIdentifier = new Map();

async function grantConsent(provider, req, res, details) {
  const { prompt: { details: missing }, params, session: { accountId } } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const grantId = await grant.save();
  const consent = details.grantId ? {} : { grantId };
  await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
}

async function handleInteraction(provider, req, res, url) {
  const m = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login|otp|identify|consent|password))?$/);
  if (!m) return send(res, 404, page('Not found', '<h1>Not found</h1>'));
  const [, uid, action] = m;

  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, page('Error', '<p class="error">interaction mismatch</p>'));
  const prompt = details.prompt.name;

  if (req.method === 'GET' && !action) {
    if (prompt === 'login') {
      if (pendingOtp.has(uid)) return send(res, 200, otpPage(uid));
      if (pendingPassword.has(uid)) return send(res, 200, updatePasswordPage(uid));
      if (LOGIN_STYLE === 'identifier-first' && pendingIdentifier.has(uid)) {
        return send(res, 200, passwordStepPage(uid, pendingIdentifier.get(uid)));
      }
      return sendLogin(res, uid, {});
    }
    if (prompt === 'consent') {
      if (CONSENT === 'page') return send(res, 200, consentPage(uid, details));
      if (CONSENT === 'script') return send(res, 200, consentScriptPage(uid, details));
      return grantConsent(provider, req, res, details);
    }
    return send(res, 400, page('Error', `<p class="error">unsupported prompt ${esc(prompt)}</p>`));
  }

  if (req.method !== 'POST' || !action) return send(res, 405, page('Error', '<p class="error">method not allowed</p>'));
  const form = await readForm(req);

  if (action === 'consent') {
    if (prompt !== 'consent') return send(res, 400, page('Error', `<p class="error">no consent pending (prompt ${esc(prompt)})</p>`));
    const decision = form.get('decision');
    if (decision === 'allow') return grantConsent(provider, req, res, details);
    if (decision === 'deny') {
      return provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: 'End-User denied the authorization request',
      }, { mergeWithLastSubmission: false });
    }
    return send(res, 400, page('Error', '<p class="error">decision must be allow or deny</p>'));
  }

  if (action === 'identify') {
    const login = (form.get('login') || '').trim();
    if (!login) return send(res, 200, identifierPage(uid, { error: 'Enter your username' }));
    // Any username gets the password page: which accounts exist is not told.
    pendingIdentifier.set(uid, login);
    return send(res, 200, passwordStepPage(uid, login));
  }

  if (action === 'login') {
    const login = form.get('login') || '';
    const user = Object.hasOwn(USERS, login) ? USERS[login] : undefined;
    if (!user || form.get('password') !== user.password) {
      return sendLogin(res, uid, { error: 'Invalid username or password', login });
    }
    if (user.locked) {
      return sendLogin(res, uid, { error: 'Account locked. Contact your administrator.', login });
    }
    if (user.disabled) {
      return sendLogin(res, uid, { error: 'Your account has been disabled.', login });
    }
    pendingIdentifier.delete(uid);
    if (user.passwordExpired) {
      pendingPassword.set(uid, login);
      return send(res, 200, updatePasswordPage(uid));
    }
    if (user.totp) {
      pendingOtp.set(uid, login);
      return send(res, 200, otpPage(uid));
    }
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }

  if (action === 'password') {
    const who = pendingPassword.get(uid);
    if (!who) return sendLogin(res, uid, {});
    pendingPassword.delete(uid);
    passwordChanges += 1;
    console.log(`password changed for ${who} (${passwordChanges} so far)`);
    return provider.interactionFinished(req, res, { login: { accountId: who } }, { mergeWithLastSubmission: false });
  }

  // action === 'otp'
  const login = pendingOtp.get(uid);
  if (!login) return sendLogin(res, uid, {});
  if (!otpValid(USERS[login], (form.get('otp') || '').trim())) {
    return send(res, 200, otpPage(uid, { error: 'Invalid code' }));
  }
  pendingOtp.delete(uid);
  return provider.interactionFinished(req, res, { login: { accountId: login, amr: ['pwd', 'otp'] } }, { mergeWithLastSubmission: false });
}

// ---------------------------------------------------------------- device polling

// oidc-provider announces no interval and never answers slow_down. This
// middleware adds `interval` to the device authorization response and turns
// an authorization_pending answer into slow_down when the same device_code
// was polled less than DEVICE_INTERVAL seconds before (RFC 8628 section 3.5:
// slow_down is "a variant of authorization_pending"). Polls that would get
// tokens or another error are left alone.
const lastPoll = new Map(); // device_code -> ms of the previous poll

function devicePolling() {
  return async function devicePollingMiddleware(ctx, next) {
    await next();
    if (ctx.method !== 'POST') return;
    if (ctx.path === '/device/auth') {
      if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && ctx.body.device_code) {
        ctx.body = { ...ctx.body, interval: DEVICE_INTERVAL };
      }
      return;
    }
    if (ctx.path !== '/token') return;
    const params = ctx.oidc?.params;
    if (!params || params.grant_type !== DEVICE_GRANT || !params.device_code) return;
    const now = Date.now();
    const prev = lastPoll.get(params.device_code);
    if (lastPoll.size > 10000) lastPoll.clear();
    lastPoll.set(params.device_code, now);
    if (ctx.status === 400 && ctx.body?.error === 'authorization_pending'
        && prev !== undefined && now - prev < DEVICE_INTERVAL * 1000) {
      ctx.body = {
        error: 'slow_down',
        error_description: `you are polling too quickly; wait at least ${DEVICE_INTERVAL} s between requests`,
      };
    }
  };
}

// ---------------------------------------------------------------- revocation (issue 17)

// REVOCATION=ineffective makes the revocation endpoint (RFC 7009) answer 200
// to every request without revoking anything: the security bug a
// revoke-then-check flow must catch (revocation_ineffective). Default on:
// oidc-provider's own revocation.
const REVOCATION = oneOf('REVOCATION', ['on', 'ineffective']);

function ineffectiveRevocation() {
  return async function ineffectiveRevocationMiddleware(ctx, next) {
    if (ctx.method === 'POST' && ctx.path === '/token/revocation') {
      ctx.status = 200;
      ctx.body = '';
      return;
    }
    await next();
  };
}

// LOGOUT=ineffective makes RP-initiated logout answer as if it worked (the
// confirmation page, then "signed out") without ending the session: the
// bug a logout-then-check flow must catch (revocation_ineffective).
const LOGOUT = oneOf('LOGOUT', ['on', 'ineffective']);

function ineffectiveLogout() {
  return async function ineffectiveLogoutMiddleware(ctx, next) {
    if (ctx.method === 'POST' && ctx.path === '/session/end/confirm') {
      ctx.type = 'html';
      ctx.body = '<!DOCTYPE html><html><head><title>Signed out</title></head><body><h1>You are signed out</h1></body></html>';
      return;
    }
    await next();
  };
}

// ---------------------------------------------------------------- server

const verbose = env.LOG === '1';
let handler;
const server = createServer((req, res) => {
  if (verbose) {
    res.on('finish', () => console.error(`${req.method} ${req.url} -> ${res.statusCode}`));
  }
  if (!handler) {
    res.statusCode = 503;
    res.end();
    return;
  }
  handler(req, res);
});

server.listen(port, '127.0.0.1', () => {
  const actualPort = server.address().port;
  const issuer = issuerTemplate.replaceAll('{port}', String(actualPort));
  const provider = new Provider(issuer, withMTLS(configuration()));
  if (REFRESH_ROTATION === 'keep-old') {
    // A rotated-out token is marked consumed; never marking it leaves it valid.
    provider.RefreshToken.prototype.consume = async function consume() {};
  }
  provider.on('server_error', (_ctx, err) => console.error('server_error:', err));
  if (env.ERROR_DETAIL === '1') {
    // Say why, as Okta, Entra ID and Keycloak do: oidc-provider keeps the
    // detail ("alg mismatch", "audience (aud) must equal ...") to itself.
    provider.on('grant.error', (ctx, err) => {
      if (err.error_detail && ctx.body && typeof ctx.body === 'object' && ctx.body.error_description) {
        ctx.body.error_description += `: ${err.error_detail}`;
      }
    });
  }
  if (verbose) {
    for (const ev of ['grant.error', 'authorization.error', 'introspection.error', 'revocation.error']) {
      provider.on(ev, (_ctx, err) => console.error(`${ev}: ${err.error || err.name}: ${err.error_description || err.message}`));
    }
  }
  provider.use(devicePolling());
  useMTLS(provider);
  if (REVOCATION === 'ineffective') provider.use(ineffectiveRevocation());
  if (LOGOUT === 'ineffective') provider.use(ineffectiveLogout());
  const callback = provider.callback();
  handler = (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/interaction-assets/login.js') {
      res.statusCode = 200;
      res.setHeader('Content-Type', 'text/javascript; charset=utf-8');
      res.setHeader('Cache-Control', 'no-store');
      res.end(req.method === 'HEAD' ? undefined : SPA_SCRIPT);
      return;
    }
    if (url.pathname === '/interaction' || url.pathname.startsWith('/interaction/')) {
      handleInteraction(provider, req, res, url).catch((err) => {
        if (!err.statusCode || err.statusCode >= 500) console.error('interaction error:', err);
        if (!res.headersSent) {
          send(res, err.statusCode || 500, page('Error', `<h1>Error</h1><p class="error">${esc(err.error || err.name)}: ${esc(err.error_description || err.message)}</p>`));
        } else {
          res.end();
        }
      });
      return;
    }
    callback(req, res);
  };
  // LISTEN names where to connect (the issuer may be set to another host);
  // READY is the last line a starter waits for.
  process.stdout.write(`LISTEN http://127.0.0.1:${actualPort}\nREADY ${issuer}\n`);
  console.error(`oidc-provider for tests: issuer ${issuer}, signing kid ${keys[0].kid}, access token TTL ${TTL.accessToken}s, `
    + `LOGIN_STYLE=${LOGIN_STYLE} CONSENT=${CONSENT} DEVICE_INTERVAL=${DEVICE_INTERVAL}s DEVICE_CODE_TTL=${TTL.deviceCode}s REFRESH_ROTATION=${REFRESH_ROTATION} REVOCATION=${REVOCATION}`);
});

function shutdown() {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

// With EXIT_ON_STDIN_EOF=1 the server exits when its stdin closes, so it
// cannot outlive a test process that died without cleaning up.
if (env.EXIT_ON_STDIN_EOF === '1') {
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}
