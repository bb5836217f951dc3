// A tiny Docker/OCI token server for the `token` registry of the testbed.
// Protocol: https://distribution.github.io/distribution/spec/auth/token/ (GET with Basic creds and
// ?service=&scope=) and the OAuth2 form POST variant (spec/auth/oauth/).
// distribution 2.8 verifies the JWT in registry/auth/token/token.go: the `x5c` header carries the
// signing certificate, which must chain to `rootcertbundle`; `iss` must equal the configured issuer,
// `aud` the service; ES256 signatures are raw r||s (JWS), not DER.
import { createPrivateKey, randomBytes, sign, X509Certificate } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** Who may do what: users with a password get every action they ask for on any repository. */
export interface TokenIssuerOptions {
  /** PEM certificate (its public key signs tokens); the registry's rootcertbundle holds the same cert. */
  certPem: string;
  /** PEM private key (EC P-256) for `certPem`. */
  keyPem: string;
  issuer: string;
  service: string;
  users: Record<string, string>;
  /** Repositories under this prefix get anonymous pull. */
  publicPrefix?: string;
  /** Lifetime of issued tokens, in seconds. */
  expiresIn?: number;
}

/** What GET /stats answers: how many token requests were served, by outcome. */
export interface TokenIssuerStats {
  requests: number;
  issued: number;
  denied: number;
  byUser: Record<string, number>;
}

/** A running token issuer. */
export interface TokenIssuer {
  url: string;
  realm: string;
  stats: TokenIssuerStats;
  stop(): Promise<void>;
}

// 300 s: long enough that no test sees an expiry by accident, short enough to be realistic.
const DEFAULT_EXPIRES_IN = 300;

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

interface Access {
  type: string;
  name: string;
  actions: string[];
}

/** Parses `repository:name:pull,push` scopes; names may contain ':' only before the last part. */
function parseScope(scope: string): Access | null {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first < 0 || last === first) return null;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(",")
      .filter(Boolean),
  };
}

/** Starts the issuer on 127.0.0.1 (a port chosen by the OS). */
export async function startTokenIssuer(opts: TokenIssuerOptions): Promise<TokenIssuer> {
  const key = createPrivateKey(opts.keyPem);
  const certDer = new X509Certificate(opts.certPem).raw;
  const publicPrefix = opts.publicPrefix ?? "public/";
  const expiresIn = opts.expiresIn ?? DEFAULT_EXPIRES_IN;
  const stats: TokenIssuerStats = { requests: 0, issued: 0, denied: 0, byUser: {} };

  const grant = (user: string | null, wanted: Access[]): Access[] =>
    wanted.flatMap((a) => {
      if (user !== null) return [a];
      if (a.type === "repository" && a.name.startsWith(publicPrefix)) {
        const actions = a.actions.filter((x) => x === "pull");
        return actions.length > 0 ? [{ ...a, actions }] : [];
      }
      return [];
    });

  const mint = (user: string | null, access: Access[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "ES256", x5c: [certDer.toString("base64")] };
    const claims = {
      iss: opts.issuer,
      sub: user ?? "",
      aud: opts.service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(12).toString("hex"),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
    return `${input}.${b64url(sig)}`;
  };

  const deny = (res: ServerResponse, status: number, code: string, message: string): void => {
    stats.denied++;
    res.writeHead(status, {
      "content-type": "application/json",
      ...(status === 401 ? { "www-authenticate": 'Basic realm="token-issuer"' } : {}),
    });
    res.end(JSON.stringify({ errors: [{ code, message }] }));
  };

  const handleToken = (
    res: ServerResponse,
    params: URLSearchParams,
    creds: { user: string; pass: string } | null,
  ): void => {
    stats.requests++;
    if (params.get("service") !== null && params.get("service") !== opts.service) {
      deny(res, 400, "INVALID_REQUEST", "unknown service");
      return;
    }
    let user: string | null = null;
    if (creds !== null) {
      if (opts.users[creds.user] === undefined || opts.users[creds.user] !== creds.pass) {
        deny(res, 401, "UNAUTHORIZED", "bad credentials");
        return;
      }
      user = creds.user;
    }
    const wanted = params
      .getAll("scope")
      .flatMap((s) => s.split(" "))
      .map(parseScope)
      .filter((a): a is Access => a !== null);
    const token = mint(user, grant(user, wanted));
    stats.issued++;
    const who = user ?? "<anonymous>";
    stats.byUser[who] = (stats.byUser[who] ?? 0) + 1;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        token,
        access_token: token,
        expires_in: expiresIn,
        issued_at: new Date().toISOString(),
      }),
    );
  };

  const basicCreds = (req: IncomingMessage): { user: string; pass: string } | null => {
    const h = req.headers.authorization;
    if (h === undefined || !/^basic /i.test(h)) return null;
    const decoded = Buffer.from(h.slice(6).trim(), "base64").toString("utf8");
    const i = decoded.indexOf(":");
    return i < 0 ? { user: decoded, pass: "" } : { user: decoded.slice(0, i), pass: decoded.slice(i + 1) };
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://issuer");
    if (req.method === "GET" && url.pathname === "/stats") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(stats));
      return;
    }
    if (url.pathname !== "/token") {
      res.writeHead(404).end();
      return;
    }
    if (req.method === "GET") {
      handleToken(res, url.searchParams, basicCreds(req));
      return;
    }
    if (req.method === "POST") {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
        const username = form.get("username");
        const creds =
          form.get("grant_type") === "password" && username !== null
            ? { user: username, pass: form.get("password") ?? "" }
            : basicCreds(req);
        handleToken(res, form, creds);
      });
      return;
    }
    res.writeHead(405).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    realm: `${url}/token`,
    stats,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
