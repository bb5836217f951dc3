/**
 * Registry authentication: the `WWW-Authenticate` challenge (RFC 9110 11.6.1), bearer tokens
 * from the token service (https://distribution.github.io/distribution/spec/auth/token/ and
 * .../auth/oauth/ for identity tokens), and Basic.
 *
 * Where credentials go (credentials are never sent to a host nobody vouched for):
 * - a registry's credentials go to that registry's origin (a Basic challenge), or to the token
 *   realm its challenge names: Basic credentials on the token GET, an identity token in the
 *   refresh-token POST. The realm may be another host; that is how the token protocol works and
 *   what Docker does (registry-1.docker.io names https://auth.docker.io/token). Vouching for the
 *   registry is vouching for the realm it names, on the conditions below.
 * - a token realm must be https. The one exception: a registry the policy allows over plain http
 *   (a local test or air-gapped registry) may name an http realm on its own host, or on a host
 *   that is itself allowed plain http. Anything else would send credentials in clear to a host
 *   nobody vouched for. `realmUrl()` enforces this before any credential is attached.
 * - credentials (Basic on the token GET, an identity token in the POST) go to a realm only over
 *   https, to the registry's own origin (scheme, host and port), or to a realm origin the policy
 *   itself lists in `allowInsecure`. A plain-http realm on the registry's host but another port is
 *   another service, which the policy did not vouch for: it is asked for an anonymous token
 *   (`realmMayHaveCredentials()`).
 * - a token realm is an address like any other: the guard checks the realm's own host and every
 *   address it resolves to, so a realm on another host that resolves to a private address gets
 *   nothing, whatever the registry is allowed. The one widening: a realm on the same host name as
 *   a registry the policy allows private (its token service, usually on another port).
 * - the transport sends no credential and no body across a redirect that leaves the origin, and
 *   refuses to redirect a token POST to another origin at all (REDIRECT_REFUSED).
 */

import type { Credential, CredentialStore } from "./credentials.js";
import { POLICY_HINT, RegistryError } from "./errors.js";
import {
  headerText,
  LIMITS,
  type RequestContext,
  type RequestSpec,
  type Response,
  type Transport,
} from "./transport.js";

/** A parsed authentication challenge. */
export interface Challenge {
  /** Lower-case scheme: `bearer`, `basic`, ... */
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parse a `WWW-Authenticate` value into its challenges:
 * `Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull", Basic realm="x"`.
 */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skip = (chars: string) => {
    while (i < n && chars.includes(header[i]!)) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  let current: Challenge | undefined;
  while (i < n) {
    skip(" \t,");
    const word = token();
    if (!word) {
      i++;
      continue;
    }
    skip(" \t");
    if (header[i] === "=" && current) {
      i++;
      skip(" \t");
      let value = "";
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === "\\" && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++;
      } else value = token();
      current.params[word.toLowerCase()] = value;
    } else {
      current = { scheme: word.toLowerCase(), params: {} };
      challenges.push(current);
    }
  }
  return challenges;
}

/** Where tokens and challenges are remembered; share one across sources so a warm cache costs no token requests. */
export interface TokenCache {
  getToken(key: string, nowMs: number): string | undefined;
  setToken(key: string, token: string, expiresAtMs: number): void;
  deleteToken(key: string): void;
  getChallenge(registry: string): Challenge | undefined;
  setChallenge(registry: string, challenge: Challenge): void;
}

/** Token lifetime the spec assumes when the token service gives none (auth/token spec: 60 seconds). */
export const DEFAULT_TOKEN_SECONDS = 60;
/** Renew this much before expiry (at most 30 s, at most a fifth of the lifetime) so a token never expires mid-gather. */
function renewMarginMs(lifetimeMs: number): number {
  return Math.min(30_000, lifetimeMs / 5);
}

/** An in-memory token cache. */
export class MemoryTokenCache implements TokenCache {
  private readonly tokens = new Map<string, { token: string; expiresAtMs: number }>();
  private readonly challenges = new Map<string, Challenge>();

  getToken(key: string, nowMs: number): string | undefined {
    const entry = this.tokens.get(key);
    if (!entry) return undefined;
    if (entry.expiresAtMs <= nowMs) {
      this.tokens.delete(key);
      return undefined;
    }
    return entry.token;
  }
  setToken(key: string, token: string, expiresAtMs: number): void {
    this.tokens.set(key, { token, expiresAtMs });
  }
  deleteToken(key: string): void {
    this.tokens.delete(key);
  }
  getChallenge(registry: string): Challenge | undefined {
    return this.challenges.get(registry);
  }
  setChallenge(registry: string, challenge: Challenge): void {
    this.challenges.set(registry, challenge);
  }
}

/** The pull scope for a repository (auth/scope spec). */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

/** Options of an authenticator. */
export interface AuthenticatorOptions {
  transport: Transport;
  /** The registry as references name it (`127.0.0.1:5000`), the cache key. */
  registry: string;
  /** The registry's base URL (`https://host:port`). */
  base: URL;
  credentials: CredentialStore;
  cache: TokenCache;
  now: () => number;
}

/** Adds authorization to requests for one registry and answers its challenges. */
export class Authenticator {
  private credential: Promise<Credential | undefined> | undefined;
  /** Token fetches in flight, so parallel requests that need the same token wait for one fetch. */
  private readonly pending = new Map<string, Promise<string>>();
  /** The realm credentials were last withheld from (see `realmMayHaveCredentials`), to explain a refusal. */
  private withheldFrom: URL | undefined;

  constructor(private readonly options: AuthenticatorOptions) {}

  /**
   * Send `spec` (a request to this registry) with the best authorization known; on a 401, answer
   * the challenge once and send again. Returns the final response (any status except a 401 after
   * authenticating, which throws UNAUTHORIZED).
   */
  async send(spec: RequestSpec, scope: string, ctx: RequestContext): Promise<Response> {
    const { transport } = this.options;
    const known = await this.knownAuthorization(scope, ctx);
    const first = await transport.send(withAuth(spec, known), ctx);
    if (first.status !== 401) return first;
    const header = headerText(first.headers["www-authenticate"]);
    const challenge = header ? pickChallenge(parseWwwAuthenticate(header)) : undefined;
    if (!challenge)
      throw new RegistryError(
        "UNAUTHORIZED",
        `${this.options.registry}: 401 without a challenge this client can answer`,
        {
          status: 401,
        },
      );
    this.options.cache.setChallenge(this.options.registry, challenge);
    if (known) this.options.cache.deleteToken(await this.cacheKey(scope));
    const authorization = await this.answer(challenge, scope, ctx);
    const second = await transport.send(withAuth(spec, authorization), ctx);
    if (second.status === 401) {
      this.options.cache.deleteToken(await this.cacheKey(scope));
      const cred = await this.getCredential();
      throw new RegistryError(
        "UNAUTHORIZED",
        this.withheldFrom
          ? `${this.options.registry}: ${withheldText(this.withheldFrom)}`
          : cred
            ? `${this.options.registry}: the credentials were refused (wrong user name or password?)`
            : `${this.options.registry}: authentication required, and no credentials are configured for it`,
        { status: 401 },
      );
    }
    return second;
  }

  private getCredential(): Promise<Credential | undefined> {
    this.credential ??= this.options.credentials.get(this.options.registry);
    return this.credential;
  }

  private async cacheKey(scope: string): Promise<string> {
    const cred = await this.getCredential();
    const who = cred?.username ?? (cred?.identityToken ? "<identity>" : "<anonymous>");
    return `${this.options.registry}|${who}|${scope}`;
  }

  /** Authorization without a round trip when possible: a cached token, Basic, or a token fetched for a known challenge. */
  private async knownAuthorization(scope: string, ctx: RequestContext): Promise<string | undefined> {
    const challenge = this.options.cache.getChallenge(this.options.registry);
    if (!challenge) return undefined;
    const cached = this.options.cache.getToken(await this.cacheKey(scope), this.options.now());
    if (cached) return `Bearer ${cached}`;
    return this.answer(challenge, scope, ctx);
  }

  private async answer(challenge: Challenge, scope: string, ctx: RequestContext): Promise<string> {
    const cred = await this.getCredential();
    if (challenge.scheme === "basic") {
      if (!cred?.username || cred.password === undefined)
        throw new RegistryError(
          "UNAUTHORIZED",
          `${this.options.registry}: Basic authentication required, and no user name and password are configured for it`,
          { status: 401 },
        );
      return basicHeader(cred);
    }
    const key = await this.cacheKey(scope);
    let token = this.pending.get(key);
    if (!token) {
      token = this.fetchToken(challenge, scope, cred, ctx).finally(() => this.pending.delete(key));
      this.pending.set(key, token);
    }
    return `Bearer ${await token}`;
  }

  private realmUrl(challenge: Challenge): URL {
    const { registry, base, transport } = this.options;
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm ?? "");
    } catch {
      throw new RegistryError(
        "BAD_RESPONSE",
        `${registry}: the token realm "${challenge.params.realm ?? ""}" is not a URL`,
      );
    }
    if (realm.protocol === "https:") return realm;
    const insecureOk =
      realm.protocol === "http:" &&
      transport.allowsInsecure(base) &&
      (realm.hostname === base.hostname || transport.allowsInsecure(realm));
    if (!insecureOk)
      throw new RegistryError(
        "INSECURE_REFUSED",
        `${registry}: refusing the token realm ${realm.origin}: it must be https (plain http only for a registry and realm host in registries.allowInsecure) ${POLICY_HINT}`,
      );
    return realm;
  }

  /**
   * Whether the registry's credentials may go to `realm`: over https, to the registry's own origin,
   * or to a plain-http origin the policy lists in `allowInsecure` itself. A realm merely on the
   * registry's host (another port, another service) gets none.
   */
  private realmMayHaveCredentials(realm: URL): boolean {
    const { base, transport } = this.options;
    return realm.protocol === "https:" || realm.origin === base.origin || transport.allowsInsecure(realm);
  }

  private async fetchToken(
    challenge: Challenge,
    scope: string,
    cred: Credential | undefined,
    ctx: RequestContext,
  ): Promise<string> {
    const { registry, base, transport, cache, now } = this.options;
    const realm = this.realmUrl(challenge);
    const service = challenge.params.service;
    const sameHostAsAllowed = realm.hostname === base.hostname && transport.allowsPrivate(base);
    const withheld = cred !== undefined && !this.realmMayHaveCredentials(realm);
    const sent = withheld ? undefined : cred;
    this.withheldFrom = withheld ? realm : undefined;
    // realmUrl() has vetted plain http already (see the header comment).
    const vetted = { alsoAllowPrivate: sameHostAsAllowed, alsoAllowInsecure: realm.protocol === "http:" };
    let spec: RequestSpec;
    if (sent?.identityToken) {
      // OAuth2 refresh-token grant (distribution spec auth/oauth).
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: sent.identityToken,
        client_id: "image-check",
      });
      if (service) form.set("service", service);
      form.set("scope", scope);
      spec = {
        method: "POST",
        url: realm,
        kind: "token",
        maxBytes: LIMITS.tokenBytes,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form.toString(),
        ...vetted,
      };
    } else {
      const url = new URL(realm);
      if (service) url.searchParams.set("service", service);
      url.searchParams.append("scope", scope);
      spec = {
        method: "GET",
        url,
        kind: "token",
        maxBytes: LIMITS.tokenBytes,
        ...vetted,
      };
      if (sent?.username && sent.password !== undefined) spec.headers = { authorization: basicHeader(sent) };
    }
    const started = now();
    const response = await transport.send(spec, ctx);
    if (response.status === 401)
      throw new RegistryError(
        "UNAUTHORIZED",
        withheld
          ? `${registry}: the token service refused an anonymous token; ${withheldText(realm)}`
          : sent
            ? `${registry}: the token service refused the credentials (wrong user name or password?)`
            : `${registry}: the token service refused an anonymous token`,
        { status: 401 },
      );
    if (response.status === 403)
      throw new RegistryError("DENIED", `${registry}: the token service denied ${scope}`, { status: 403 });
    if (response.status < 200 || response.status >= 300)
      throw new RegistryError(
        "BAD_RESPONSE",
        `${registry}: the token service answered HTTP ${response.status}`,
        {
          status: response.status,
        },
      );
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(response.body.toString("utf8")) as typeof body;
    } catch (err) {
      throw new RegistryError("BAD_RESPONSE", `${registry}: the token service did not answer JSON`, {
        cause: err,
      });
    }
    const token = typeof body.token === "string" && body.token ? body.token : body.access_token;
    if (typeof token !== "string" || !token || /[\r\n]/.test(token))
      throw new RegistryError("BAD_RESPONSE", `${registry}: the token service answered without a token`);
    const seconds =
      typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    const lifetimeMs = seconds * 1000;
    cache.setToken(await this.cacheKey(scope), token, started + lifetimeMs - renewMarginMs(lifetimeMs));
    return token;
  }
}

/** Why a registry with credentials was answered as anonymous, and what to do about it. */
function withheldText(realm: URL): string {
  return `the credentials were not sent to the token realm ${realm.origin}, plain http on another origin than the registry's: serve it over https, or list "${realm.host}" in registries.allowInsecure`;
}

function basicHeader(cred: Credential): string {
  return `Basic ${Buffer.from(`${cred.username}:${cred.password}`, "utf8").toString("base64")}`;
}

/** Prefer bearer (scoped, short-lived) over basic when a registry offers both. */
function pickChallenge(challenges: Challenge[]): Challenge | undefined {
  return (
    challenges.find((c) => c.scheme === "bearer" && c.params.realm) ??
    challenges.find((c) => c.scheme === "basic")
  );
}

function withAuth(spec: RequestSpec, authorization: string | undefined): RequestSpec {
  if (!authorization) return spec;
  return { ...spec, headers: { ...spec.headers, authorization } };
}
