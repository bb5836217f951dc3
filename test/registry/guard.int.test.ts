import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReference } from "../../src/reference/parse.js";
import { parseIPv4 } from "../../src/registry/guard.js";
import {
  blockedKind,
  type Connector,
  RegistrySource,
  type Resolver,
  staticCredentials,
} from "../../src/registry/index.js";
import { pushImage, randomRepo } from "../support/image-builder.js";
import { type Proxy as RecordingProxy, startProxy } from "../support/proxy.js";
import { getTestbed } from "../support/testbed.js";
import { codeOf } from "./helpers.js";

const testbed = getTestbed();

/** A connector that records every attempt and sends it to the loopback testbed registry instead. */
function loopbackConnector(target: string): { connector: Connector; attempts: URL[] } {
  const attempts: URL[] = [];
  const [host, port] = target.split(":") as [string, string];
  const connector: Connector = (url, options) => {
    attempts.push(url);
    return http.request({
      host,
      port: Number(port),
      method: options.method,
      path: url.pathname + url.search,
      headers: options.headers,
    });
  };
  return { connector, attempts };
}

/** A resolver that records names and answers from a table. */
function tableResolver(table: Record<string, string[]>): { resolver: Resolver; asked: string[] } {
  const asked: string[] = [];
  const resolver: Resolver = async (host) => {
    asked.push(host);
    return (table[host] ?? []).map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return { resolver, asked };
}

describe("blockedKind", () => {
  const table: [string, string | undefined][] = [
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["172.32.0.1", undefined],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "shared (CGNAT)"],
    ["169.254.169.254", "cloud metadata"],
    ["169.254.10.1", "link-local"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["255.255.255.255", "broadcast"],
    ["224.0.0.251", "multicast"],
    ["8.8.8.8", undefined],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fd00:ec2::254", "cloud metadata"],
    ["fc00::1", "unique local (private)"],
    ["fe80::1", "link-local"],
    ["ff02::1", "multicast"],
    ["::ffff:127.0.0.1", "IPv4-mapped loopback"],
    ["::ffff:7f00:1", "IPv4-mapped loopback"],
    ["::ffff:169.254.169.254", "IPv4-mapped cloud metadata"],
    ["::ffff:8.8.8.8", undefined],
    ["::127.0.0.1", "IPv4-compatible loopback"],
    ["64:ff9b::a00:1", "NAT64 private"],
    ["2002:7f00:1::", "6to4 loopback"],
    ["2606:4700:4700::1111", undefined],
    ["2130706433", "loopback"],
    ["0x7f.1", "loopback"],
    ["017700000001", "loopback"],
    ["127.1", "loopback"],
  ];
  it.each(table)("classifies %s as %s", (address, kind) => {
    expect(blockedKind(address)).toBe(kind);
  });
});

describe("parseIPv4", () => {
  it.each([
    ["127.0.0.1", [127, 0, 0, 1]],
    ["127.1", [127, 0, 0, 1]],
    ["0x7f.1", [127, 0, 0, 1]],
    ["2130706433", [127, 0, 0, 1]],
    ["017700000001", [127, 0, 0, 1]],
    ["10.0x10.1", [10, 16, 0, 1]],
  ])("reads %s in every inet_aton spelling", (text, bytes) => {
    expect(parseIPv4(text)).toEqual(bytes);
  });
  it.each(["256.1.1.1", "1.2.3.4.5", "example.com", "08.1.1.1", "1..2", "4294967296"])(
    "refuses %s",
    (text) => {
      expect(parseIPv4(text)).toBeNull();
    },
  );
});

describe("the address guard", () => {
  let repo: string;
  const openPort = () => testbed.open.host.split(":")[1]!;

  beforeAll(async () => {
    repo = randomRepo("guard");
    await pushImage(testbed.open, repo, { config: { User: "guarded" } }, "1");
  });

  describe("when a registry is named by a refused address", () => {
    const forms = [
      "localhost:5000",
      "app.localhost:5000",
      "[::1]:5000",
      "[0:0:0:0:0:0:0:1]:5000",
      "127.0.0.1:5000",
      "2130706433:5000",
      "0x7f.1:5000",
      "017700000001:5000",
      "127.1:5000",
      "0.0.0.0:5000",
      "169.254.169.254",
      "[fd00:ec2::254]",
      "10.0.0.1:5000",
      "172.20.0.1",
      "192.168.1.10:443",
      "100.64.1.1",
      "224.0.0.1",
      "[::ffff:127.0.0.1]:5000",
      "[::ffff:a9fe:a9fe]",
      "[fe80::1]:5000",
      "[fc00::5]",
    ];
    it.each(forms)("refuses %s with BLOCKED_ADDRESS before resolving or connecting", async (registry) => {
      const { connector, attempts } = loopbackConnector(testbed.open.host);
      const { resolver, asked } = tableResolver({});
      const source = new RegistrySource({ connector, resolver, allowInsecure: [registry] });
      expect(await codeOf(source.gather(parseReference(`${registry}/${repo}:1`)))).toBe("BLOCKED_ADDRESS");
      expect(attempts).toEqual([]);
      expect(asked).toEqual([]);
    });
  });

  describe("when a registry name resolves to a refused address", () => {
    it.each([
      ["registry.example.com", ["127.0.0.1"]],
      ["meta.example.com", ["169.254.169.254"]],
      ["v6.example.com", ["::1"]],
      ["mixed.example.com", ["93.184.216.34", "10.0.0.7"]],
    ])("refuses %s (resolving to %j) without connecting", async (name, addresses) => {
      const { connector, attempts } = loopbackConnector(testbed.open.host);
      const { resolver, asked } = tableResolver({ [name]: addresses });
      const source = new RegistrySource({ connector, resolver });
      expect(await codeOf(source.gather(parseReference(`${name}/${repo}:1`)))).toBe("BLOCKED_ADDRESS");
      expect(asked).toEqual([name]);
      expect(attempts).toEqual([]);
    });
  });

  describe("when the policy names the registry", () => {
    const forms = () => [
      `localhost:${openPort()}`,
      `127.0.0.1:${openPort()}`,
      `2130706433:${openPort()}`,
      `0x7f.1:${openPort()}`,
      `017700000001:${openPort()}`,
      `127.1:${openPort()}`,
      `[::1]:${openPort()}`,
      "169.254.169.254",
      "[fd00:ec2::254]",
      "10.0.0.1:5000",
      "[::ffff:127.0.0.1]:5000",
      "registry.example.com:5000",
    ];
    it.each(forms().map((f) => [f]))("allows %s", async (registry) => {
      // The connector sends every allowed attempt to the loopback testbed: no traffic leaves the machine.
      const { connector, attempts } = loopbackConnector(testbed.open.host);
      const { resolver } = tableResolver({ localhost: ["127.0.0.1"], "registry.example.com": ["10.1.1.1"] });
      const source = new RegistrySource({
        connector,
        resolver,
        allowPrivate: [registry],
        allowInsecure: [registry],
      });
      const facts = await source.gather(parseReference(`${registry}/${repo}:1`));
      expect(facts.config.user).toBe("guarded");
      expect(attempts.length).toBeGreaterThan(0);
    });

    it("allows only the port it names", async () => {
      const { connector, attempts } = loopbackConnector(testbed.open.host);
      const source = new RegistrySource({
        connector,
        allowPrivate: ["127.0.0.1:5001"],
        allowInsecure: ["127.0.0.1:5000"],
      });
      expect(await codeOf(source.gather(parseReference(`127.0.0.1:5000/${repo}:1`)))).toBe("BLOCKED_ADDRESS");
      expect(attempts).toEqual([]);
    });
  });

  describe("when an allowed registry redirects or challenges towards a refused address", () => {
    let proxy: RecordingProxy;
    let answer: (path: string) => { status: number; headers: Record<string, string> } | undefined;

    beforeAll(async () => {
      proxy = await startProxy(testbed.open.host, { respond: (req) => answer(req.path) });
    });
    afterAll(() => proxy.stop());

    function recordingSource(resolverTable: Record<string, string[]> = {}) {
      const attempts: URL[] = [];
      const connector: Connector = (url, options) => {
        attempts.push(url);
        return http.request(url, options);
      };
      const { resolver } = tableResolver(resolverTable);
      const source = new RegistrySource({
        connector,
        resolver,
        allowPrivate: [proxy.host],
        allowInsecure: [proxy.host],
      });
      return { source, attempts };
    }

    it.each([
      ["http://169.254.169.254/latest/meta-data/", {}],
      ["http://[::1]:9/", {}],
      ["http://0x7f.1:9/", {}],
      ["http://internal.example.com/", { "internal.example.com": ["192.168.0.2"] }],
    ])("refuses a redirect to %s without connecting there", async (location, table) => {
      answer = (path) => (path.includes("/manifests/") ? { status: 307, headers: { location } } : undefined);
      const { source, attempts } = recordingSource(table);
      expect(await codeOf(source.gather(parseReference(`${proxy.host}/${repo}:1`)))).toBe("BLOCKED_ADDRESS");
      expect(attempts.map((u) => u.host)).toEqual([proxy.host]);
    });

    it("refuses a token realm on a private address", async () => {
      answer = () => ({
        status: 401,
        headers: { "www-authenticate": 'Bearer realm="https://10.0.0.5/token",service="x"' },
      });
      const { source, attempts } = recordingSource();
      expect(await codeOf(source.gather(parseReference(`${proxy.host}/${repo}:1`)))).toBe("BLOCKED_ADDRESS");
      expect(attempts.map((u) => u.host)).toEqual([proxy.host]);
    });

    it("refuses a plain-http token realm on another host", async () => {
      answer = () => ({
        status: 401,
        headers: { "www-authenticate": 'Bearer realm="http://auth.example.com/token"' },
      });
      const { source, attempts } = recordingSource({ "auth.example.com": ["93.184.216.34"] });
      expect(await codeOf(source.gather(parseReference(`${proxy.host}/${repo}:1`)))).toBe("INSECURE_REFUSED");
      expect(attempts.map((u) => u.host)).toEqual([proxy.host]);
    });
  });

  describe("when a registry with Basic credentials names a token realm on another host", () => {
    const alice = { username: "alice", password: "s3cret" };
    let registry: RecordingProxy;
    let realm: RecordingProxy;
    const realmAuthorization: (string | undefined)[] = [];

    beforeAll(async () => {
      realm = await startProxy(testbed.open.host, {
        respond: (req) => {
          realmAuthorization.push(req.headers.authorization);
          return { status: 200, body: JSON.stringify({ token: "realm-token" }) };
        },
      });
      registry = await startProxy(testbed.open.host, {
        respond: (req) =>
          req.headers.authorization === "Bearer realm-token"
            ? undefined
            : {
                status: 401,
                headers: {
                  "www-authenticate": 'Bearer realm="https://auth.example.com/token",service="reg"',
                },
              },
      });
    });
    afterAll(() => Promise.all([registry.stop(), realm.stop()]));

    /** A source whose connector sends the realm's host to the loopback token service, and records every attempt. */
    function realmSource(realmAddresses: string[]) {
      const attempts: URL[] = [];
      const [host, port] = realm.host.split(":") as [string, string];
      const connector: Connector = (url, options) => {
        attempts.push(url);
        if (url.hostname !== "auth.example.com") return http.request(url, options);
        const { method, headers } = options;
        return http.request({ host, port: Number(port), method, path: url.pathname + url.search, headers });
      };
      const { resolver } = tableResolver({ "auth.example.com": realmAddresses });
      const source = new RegistrySource({
        connector,
        resolver,
        allowPrivate: [registry.host],
        allowInsecure: [registry.host],
        credentials: staticCredentials({ [registry.host]: alice }),
      });
      return { source, attempts };
    }

    it("sends them to an https realm at a public address, as Docker sends Docker Hub's to auth.docker.io", async () => {
      realmAuthorization.length = 0;
      const { source, attempts } = realmSource(["93.184.216.34"]);
      const facts = await source.gather(parseReference(`${registry.host}/${repo}:1`));
      source.close();
      expect(facts.config.user).toBe("guarded");
      expect(attempts.some((u) => u.host === "auth.example.com")).toBe(true);
      const basic = `Basic ${Buffer.from(`${alice.username}:${alice.password}`).toString("base64")}`;
      expect(realmAuthorization).toEqual([basic]);
    });

    it("refuses the realm when it resolves to a private address, although the registry may be private", async () => {
      realmAuthorization.length = 0;
      const { source, attempts } = realmSource(["10.1.2.3"]);
      expect(await codeOf(source.gather(parseReference(`${registry.host}/${repo}:1`)))).toBe(
        "BLOCKED_ADDRESS",
      );
      source.close();
      expect(attempts.map((u) => u.host)).toEqual([registry.host]);
      expect(realmAuthorization).toEqual([]);
    });
  });
});
