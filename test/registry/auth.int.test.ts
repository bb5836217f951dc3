import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultPolicy } from "../../src/policy/schema.js";
import { parseReference } from "../../src/reference/parse.js";
import {
  MemoryTokenCache,
  parseWwwAuthenticate,
  type RegistrySource,
  registrySourceFromPolicy,
  staticCredentials,
} from "../../src/registry/index.js";
import { pushImage, randomRepo } from "../support/image-builder.js";
import { startProxy } from "../support/proxy.js";
import { BASIC_USER, getTestbed, TOKEN_PUBLIC_PREFIX, TOKEN_USER } from "../support/testbed.js";
import { codeOf, sourceFor } from "./helpers.js";

const testbed = getTestbed();

async function issuedTokens(): Promise<number> {
  const res = await fetch(`${testbed.tokenIssuerUrl}/stats`);
  return ((await res.json()) as { issued: number }).issued;
}

async function issuerStats(): Promise<{ byUser: Record<string, number> }> {
  const res = await fetch(`${testbed.tokenIssuerUrl}/stats`);
  return (await res.json()) as { byUser: Record<string, number> };
}

/** `host:port` of the testbed token registry's realm (our issuer, plain http on its own port). */
function realmHost(): string {
  return new URL(testbed.token.tokenRealm!).host;
}

function gatherWith(source: RegistrySource, ref: string) {
  return source.gather(parseReference(ref)).finally(() => source.close());
}

describe("parseWwwAuthenticate", () => {
  it.each([
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      [
        {
          scheme: "bearer",
          params: {
            realm: "https://auth.docker.io/token",
            service: "registry.docker.io",
            scope: "repository:library/nginx:pull",
          },
        },
      ],
    ],
    ['Basic realm="Registry Realm"', [{ scheme: "basic", params: { realm: "Registry Realm" } }]],
    [
      'Basic realm="a, b", Bearer realm="https://x/token" , service=reg',
      [
        { scheme: "basic", params: { realm: "a, b" } },
        { scheme: "bearer", params: { realm: "https://x/token", service: "reg" } },
      ],
    ],
    ['Bearer realm="quo\\"ted"', [{ scheme: "bearer", params: { realm: 'quo"ted' } }]],
    ["", []],
  ])("parses %s", (header, expected) => {
    expect(parseWwwAuthenticate(header)).toEqual(expected);
  });
});

describe("registry authentication", () => {
  let basicRepo: string;
  let tokenRepo: string;
  let publicRepo: string;

  beforeAll(async () => {
    basicRepo = randomRepo("auth-basic");
    tokenRepo = randomRepo("auth-token");
    publicRepo = `${TOKEN_PUBLIC_PREFIX}${randomRepo("anon")}`;
    await Promise.all([
      pushImage(testbed.basic, basicRepo, { config: { User: "basic" } }, "1"),
      pushImage(testbed.token, tokenRepo, { config: { User: "token" } }, "1"),
      pushImage(testbed.token, publicRepo, { config: { User: "public" } }, "1"),
    ]);
  });

  describe("when the registry uses Basic auth", () => {
    it("works with the right user and password", async () => {
      const source = sourceFor([testbed.basic.host], {
        credentials: staticCredentials({ [testbed.basic.host]: BASIC_USER }),
      });
      const facts = await gatherWith(source, `${testbed.basic.host}/${basicRepo}:1`);
      expect(facts.config.user).toBe("basic");
    });

    it("sends Basic up front once the registry is known to want it", async () => {
      const proxy = await startProxy(testbed.basic.host);
      const source = sourceFor([proxy.host], {
        credentials: staticCredentials({ [proxy.host]: BASIC_USER }),
      });
      await gatherWith(source, `${proxy.host}/${basicRepo}:1`);
      await proxy.stop();
      expect(proxy.requests.filter((r) => r.status === 401)).toHaveLength(1);
    });

    it("fails with UNAUTHORIZED for a wrong password", async () => {
      const source = sourceFor([testbed.basic.host], {
        credentials: staticCredentials({
          [testbed.basic.host]: { username: BASIC_USER.username, password: "wrong" },
        }),
      });
      expect(await codeOf(gatherWith(source, `${testbed.basic.host}/${basicRepo}:1`))).toBe("UNAUTHORIZED");
    });

    it("fails with UNAUTHORIZED without credentials", async () => {
      const source = sourceFor([testbed.basic.host]);
      expect(await codeOf(gatherWith(source, `${testbed.basic.host}/${basicRepo}:1`))).toBe("UNAUTHORIZED");
    });
  });

  describe("when the registry uses bearer tokens", () => {
    const bob = () => staticCredentials({ [testbed.token.host]: TOKEN_USER });
    /** The testbed's realm is plain http on another port: the policy lists it, so credentials may go there. */
    const tokenSource = (options: Parameters<typeof sourceFor>[1] = {}) =>
      sourceFor([testbed.token.host], { allowInsecure: [testbed.token.host, realmHost()], ...options });

    it("works with the right user and password", async () => {
      const source = tokenSource({ credentials: bob() });
      const facts = await gatherWith(source, `${testbed.token.host}/${tokenRepo}:1`);
      expect(facts.config.user).toBe("token");
      expect(facts.stats.byKind["GET token"]).toBe(1);
    });

    it("gets an anonymous token for a public repository", async () => {
      const source = tokenSource();
      const facts = await gatherWith(source, `${testbed.token.host}/${publicRepo}:1`);
      expect(facts.config.user).toBe("public");
    });

    it("fails with UNAUTHORIZED for a wrong password", async () => {
      const source = tokenSource({
        credentials: staticCredentials({
          [testbed.token.host]: { username: TOKEN_USER.username, password: "wrong" },
        }),
      });
      expect(await codeOf(gatherWith(source, `${testbed.token.host}/${tokenRepo}:1`))).toBe("UNAUTHORIZED");
    });

    it("fails with UNAUTHORIZED for a private repository without credentials", async () => {
      const source = tokenSource();
      expect(await codeOf(gatherWith(source, `${testbed.token.host}/${tokenRepo}:1`))).toBe("UNAUTHORIZED");
    });

    it("reuses a cached token across sources: a second gather costs zero token requests", async () => {
      const cache = new MemoryTokenCache();
      await gatherWith(
        tokenSource({ credentials: bob(), tokenCache: cache }),
        `${testbed.token.host}/${tokenRepo}:1`,
      );
      const before = await issuedTokens();
      const facts = await gatherWith(
        tokenSource({ credentials: bob(), tokenCache: cache }),
        `${testbed.token.host}/${tokenRepo}:1`,
      );
      expect(await issuedTokens()).toBe(before);
      expect(facts.stats.byKind["GET token"]).toBeUndefined();
    });

    it("asks for a new token once the cached one is about to expire", async () => {
      const cache = new MemoryTokenCache();
      let now = Date.parse("2026-01-01T00:00:00Z");
      const make = () => tokenSource({ credentials: bob(), tokenCache: cache, now: () => now });
      await gatherWith(make(), `${testbed.token.host}/${tokenRepo}:1`);
      now += 10 * 60 * 1000;
      const facts = await gatherWith(make(), `${testbed.token.host}/${tokenRepo}:1`);
      expect(facts.stats.byKind["GET token"]).toBe(1);
    });
  });

  describe("when the token realm is plain http on another port of the registry's host", () => {
    const bob = () => staticCredentials({ [testbed.token.host]: TOKEN_USER });
    /** The policy lists the registry's own host and port only, not the realm's. */
    const registryOnly = () => sourceFor([testbed.token.host], { credentials: bob() });

    it("sends the realm no credentials, and says why a private repository is refused", async () => {
      const before = await issuerStats();
      const failed = await gatherWith(registryOnly(), `${testbed.token.host}/${tokenRepo}:1`).catch(
        (err: unknown) => err,
      );
      const after = await issuerStats();
      expect(failed).toMatchObject({
        code: "UNAUTHORIZED",
        message: expect.stringContaining("registries.allowInsecure"),
      });
      expect(after.byUser[TOKEN_USER.username] ?? 0).toBe(before.byUser[TOKEN_USER.username] ?? 0);
      expect(after.byUser["<anonymous>"] ?? 0).toBeGreaterThan(before.byUser["<anonymous>"] ?? 0);
    });

    it("still reads a public repository with an anonymous token", async () => {
      const before = await issuerStats();
      const facts = await gatherWith(registryOnly(), `${testbed.token.host}/${publicRepo}:1`);
      expect(facts.config.user).toBe("public");
      expect((await issuerStats()).byUser[TOKEN_USER.username] ?? 0).toBe(
        before.byUser[TOKEN_USER.username] ?? 0,
      );
    });
  });

  describe("when credentials come from a docker credential helper", () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "image-check-helper-"));
      const helper = join(dir, "docker-credential-fake");
      // The fake helper answers for the Basic registry, with the password taken from its environment.
      writeFileSync(
        helper,
        `#!/bin/sh
read server
if [ "$server" = "${testbed.basic.host}" ]; then
  printf '{"ServerURL":"%s","Username":"${BASIC_USER.username}","Secret":"%s"}' "$server" "$FAKE_SECRET"
else
  echo "credentials not found in native keychain"
  exit 1
fi
`,
      );
      chmodSync(helper, 0o755);
      writeFileSync(
        join(dir, "config.json"),
        JSON.stringify({ credHelpers: { [testbed.basic.host]: "fake" } }),
      );
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    const policy = () => {
      const p = defaultPolicy();
      p.registries.allowPrivate = [testbed.basic.host, testbed.open.host];
      p.registries.allowInsecure = [testbed.basic.host, testbed.open.host];
      return p;
    };

    it("works with what the helper answers", async () => {
      const env = { PATH: `${dir}:/usr/bin:/bin`, FAKE_SECRET: BASIC_USER.password };
      const source = registrySourceFromPolicy(policy(), { dockerConfigDir: dir, env });
      const facts = await gatherWith(source, `${testbed.basic.host}/${basicRepo}:1`);
      expect(facts.config.user).toBe("basic");
    });

    it("fails with UNAUTHORIZED when the helper's password is wrong", async () => {
      const env = { PATH: `${dir}:/usr/bin:/bin`, FAKE_SECRET: "wrong" };
      const source = registrySourceFromPolicy(policy(), { dockerConfigDir: dir, env });
      expect(await codeOf(gatherWith(source, `${testbed.basic.host}/${basicRepo}:1`))).toBe("UNAUTHORIZED");
    });
  });

  describe("when the credential is an identity token", () => {
    it("exchanges it for an access token with the OAuth2 refresh-token grant", async () => {
      const repo = randomRepo("identity");
      await pushImage(testbed.open, repo, { config: { User: "oauth" } }, "1");
      const forms: string[] = [];
      const realm = await startProxy(testbed.open.host, {
        respond: (req) => {
          if (req.method !== "POST") return { status: 405 };
          forms.push(req.body.toString("utf8"));
          return {
            status: 200,
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ access_token: "granted" }),
          };
        },
      });
      const registry = await startProxy(testbed.open.host, {
        respond: (req) =>
          req.headers.authorization === "Bearer granted"
            ? undefined
            : {
                status: 401,
                headers: { "www-authenticate": `Bearer realm="${realm.url}/token",service="svc"` },
              },
      });
      const source = sourceFor([registry.host, realm.host], {
        allowInsecure: [registry.host, realm.host],
        credentials: staticCredentials({ [registry.host]: { identityToken: "refresh-me" } }),
      });
      const facts = await gatherWith(source, `${registry.host}/${repo}:1`);
      await Promise.all([realm.stop(), registry.stop()]);
      expect(facts.config.user).toBe("oauth");
      const form = new URLSearchParams(forms[0]);
      expect(form.get("grant_type")).toBe("refresh_token");
      expect(form.get("refresh_token")).toBe("refresh-me");
      expect(form.get("service")).toBe("svc");
      expect(form.get("scope")).toBe(`repository:${repo}:pull`);
    });
  });

  it.each([301, 302, 303, 307, 308])(
    "refuses to follow a %i from the token service to another origin, which never sees the token",
    async (status) => {
      const elsewhere = await startProxy(testbed.open.host, {
        respond: () => ({ status: 200, body: JSON.stringify({ access_token: "stolen" }) }),
      });
      const realm = await startProxy(testbed.open.host, {
        respond: () => ({ status, headers: { location: `${elsewhere.url}/token` } }),
      });
      const registry = await startProxy(testbed.open.host, {
        respond: () => ({
          status: 401,
          headers: { "www-authenticate": `Bearer realm="${realm.url}/token",service="svc"` },
        }),
      });
      const hosts = [registry.host, realm.host, elsewhere.host];
      const source = sourceFor(hosts, {
        credentials: staticCredentials({ [registry.host]: { identityToken: "refresh-me" } }),
      });
      const code = await codeOf(gatherWith(source, `${registry.host}/${randomRepo("redirected")}:1`));
      await Promise.all([elsewhere.stop(), realm.stop(), registry.stop()]);
      expect(code).toBe("REDIRECT_REFUSED");
      expect(realm.requests.map((r) => r.method)).toEqual(["POST"]);
      expect(elsewhere.requests).toEqual([]);
    },
  );
});
