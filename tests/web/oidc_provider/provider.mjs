// A real OpenID Connect provider for tests/web/test_oidc_browser.py: the certified
// oidc-provider package on loopback, with the page as its one client and three accounts.
//
//   OIDC_REDIRECT_URI=... OIDC_SIGNED_OUT_URI=... OIDC_CLIENT_SECRET=... node provider.mjs
//
// It listens on 127.0.0.1 (a free port) and prints one JSON line, {"issuer": ...}, once it
// answers. The issuer is named "localhost", not 127.0.0.1: to the browser another site than
// the page's, as a company's provider is (the page's SameSite=Strict cookie is then not sent
// on the provider's redirect back, which the page must cope with).
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const { OIDC_REDIRECT_URI, OIDC_SIGNED_OUT_URI, OIDC_CLIENT_SECRET } = process.env;

// The accounts the development login form accepts (any password): their claims.
const ACCOUNTS = {
  ana: { email: 'ana@example.com', email_verified: true, groups: ['team-a'] },
  ben: { email: 'ben@example.com', email_verified: true, groups: ['team-b', 'admins'] },
  carl: { email: 'carl@example.com', email_verified: false, groups: [] },
};

const server = createServer();
await new Promise((resolve) => { server.listen(0, '127.0.0.1', resolve); });
const issuer = `http://localhost:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'import-page',
    client_secret: OIDC_CLIENT_SECRET,
    redirect_uris: [OIDC_REDIRECT_URI],
    post_logout_redirect_uris: [OIDC_SIGNED_OUT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  // PKCE for this confidential client too (by default only public clients must use it).
  pkce: { required: () => true },
  // email and groups are scopes of their own; their claims go to UserInfo (the spec's place
  // when an access token is issued: conformIdTokenClaims, the default), not the ID token.
  claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
  features: {
    devInteractions: { enabled: true }, // its own login and consent forms, for tests only
    rpInitiatedLogout: { enabled: true }, // end_session_endpoint, for the page's sign-out
  },
  cookies: { keys: ['a test-only key for the provider\'s own cookies'] },
  async findAccount(ctx, sub) {
    const claims = ACCOUNTS[sub];
    return claims && { accountId: sub, async claims() { return { sub, ...claims }; } };
  },
});
// Its pages import a web font from the internet: a test stays on loopback (and its browser
// with it), so only this origin's resources are allowed.
provider.use(async (ctx, next) => {
  await next();
  ctx.set('Content-Security-Policy', "default-src 'self' 'unsafe-inline'");
});
server.on('request', provider.callback());
console.log(JSON.stringify({ issuer }));
