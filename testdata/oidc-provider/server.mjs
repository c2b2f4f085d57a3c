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

import { createHash, generateKeyPairSync } from 'node:crypto';
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

const TTL = {
  accessToken: seconds('ACCESS_TOKEN_TTL', 3600),
  refreshToken: seconds('REFRESH_TOKEN_TTL', 24 * 3600),
  idToken: seconds('ID_TOKEN_TTL', 3600),
  authorizationCode: seconds('AUTH_CODE_TTL', 60),
};

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
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
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

// ---------------------------------------------------------------- clients

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
];

// ---------------------------------------------------------------- accounts

const USERS = {
  alice: { password: 'alice-password', claims: { name: 'Alice Test', email: 'alice@example.test', email_verified: true } },
  locked: { password: 'locked-password', locked: true, claims: { name: 'Locked Test' } },
  carol: { password: 'carol-password', otp: '123456', claims: { name: 'Carol Test', email: 'carol@example.test', email_verified: true } },
};

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
    rotateRefreshToken: true,
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
      IdToken: TTL.idToken,
      RefreshToken: TTL.refreshToken,
      Interaction: 3600,
      Session: 24 * 3600,
      Grant: 24 * 3600,
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
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
          if (rs.accessTokenFormat === 'jwt') info.jwt = { sign: { alg: 'RS256' } };
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

function loginPage(uid, { error, login = '' } = {}) {
  return page('Sign in', `<h1>Sign in</h1>
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<form id="login-form" method="post" action="/interaction/${esc(uid)}/login">
  <label>Username <input type="text" name="login" value="${esc(login)}" autofocus></label>
  <label>Password <input type="password" name="password"></label>
  <button type="submit">Sign in</button>
</form>`);
}

function otpPage(uid, { error } = {}) {
  return page('Two-step verification', `<h1>Two-step verification</h1>
<p>Enter the one-time code from your authenticator app.</p>
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<form id="otp-form" method="post" action="/interaction/${esc(uid)}/otp">
  <label>Code <input type="text" name="otp" inputmode="numeric" autocomplete="one-time-code"></label>
  <button type="submit">Verify</button>
</form>`);
}

function send(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
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

// Accounts that passed the password step but still owe a one-time code,
// keyed by interaction uid. In memory, like everything else here.
const pendingOtp = new Map();

async function autoConsent(provider, req, res, details) {
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
  const m = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login|otp))?$/);
  if (!m) return send(res, 404, page('Not found', '<h1>Not found</h1>'));
  const [, uid, action] = m;

  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, page('Error', '<p class="error">interaction mismatch</p>'));

  if (req.method === 'GET' && !action) {
    if (details.prompt.name === 'login') {
      if (pendingOtp.has(uid)) return send(res, 200, otpPage(uid));
      return send(res, 200, loginPage(uid));
    }
    if (details.prompt.name === 'consent') return autoConsent(provider, req, res, details);
    return send(res, 400, page('Error', `<p class="error">unsupported prompt ${esc(details.prompt.name)}</p>`));
  }

  if (req.method !== 'POST' || !action) return send(res, 405, page('Error', '<p class="error">method not allowed</p>'));
  const form = await readForm(req);

  if (action === 'login') {
    const login = form.get('login') || '';
    const user = Object.hasOwn(USERS, login) ? USERS[login] : undefined;
    if (!user || form.get('password') !== user.password) {
      return send(res, 200, loginPage(uid, { error: 'Invalid username or password', login }));
    }
    if (user.locked) {
      return send(res, 200, loginPage(uid, { error: 'Account locked. Contact your administrator.', login }));
    }
    if (user.otp) {
      pendingOtp.set(uid, login);
      return send(res, 200, otpPage(uid));
    }
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }

  // action === 'otp'
  const login = pendingOtp.get(uid);
  if (!login) return send(res, 200, loginPage(uid));
  if (form.get('otp') !== USERS[login].otp) {
    return send(res, 200, otpPage(uid, { error: 'Invalid code' }));
  }
  pendingOtp.delete(uid);
  return provider.interactionFinished(req, res, { login: { accountId: login, amr: ['pwd', 'otp'] } }, { mergeWithLastSubmission: false });
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
  const provider = new Provider(issuer, configuration());
  provider.on('server_error', (_ctx, err) => console.error('server_error:', err));
  if (verbose) {
    for (const ev of ['grant.error', 'authorization.error', 'introspection.error', 'revocation.error']) {
      provider.on(ev, (_ctx, err) => console.error(`${ev}: ${err.error || err.name}: ${err.error_description || err.message}`));
    }
  }
  const callback = provider.callback();
  handler = (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
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
  console.error(`oidc-provider for tests: issuer ${issuer}, signing kid ${keys[0].kid}, access token TTL ${TTL.accessToken}s`);
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
