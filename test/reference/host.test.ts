import { describe, expect, it } from "vitest";
import {
  canonicalHost,
  canonicalRepository,
  hostEntryCovers,
  parseIPv6,
  sameHost,
  splitHostPort,
} from "../../src/reference/host.js";

describe("canonicalHost", () => {
  const spellings: [string, string, string][] = [
    // [what, spelling, canonical form]
    ["dotted quad", "127.0.0.1:5000", "127.0.0.1:5000"],
    ["two parts", "127.1:5000", "127.0.0.1:5000"],
    ["three parts", "127.0.1:5000", "127.0.0.1:5000"],
    ["one decimal number", "2130706433:5000", "127.0.0.1:5000"],
    ["hex parts", "0x7f.1:5000", "127.0.0.1:5000"],
    ["upper-case hex", "0X7F.0X0.0X0.0X1:5000", "127.0.0.1:5000"],
    ["one hex number", "0x7f000001:5000", "127.0.0.1:5000"],
    ["octal parts", "0177.0.0.1:5000", "127.0.0.1:5000"],
    ["one octal number", "017700000001:5000", "127.0.0.1:5000"],
    ["IPv4-mapped IPv6", "[::ffff:127.0.0.1]:5000", "127.0.0.1:5000"],
    ["IPv4-mapped IPv6 in hex", "[::ffff:7f00:1]:5000", "127.0.0.1:5000"],
    ["IPv4-mapped IPv6, long form", "[0:0:0:0:0:ffff:7f00:0001]:5000", "127.0.0.1:5000"],
    ["IPv6 loopback", "[::1]:5000", "[::1]:5000"],
    ["IPv6 loopback, long form", "[0:0:0:0:0:0:0:1]:5000", "[::1]:5000"],
    ["IPv6 with leading zeros", "[0000:0000::0001]:5000", "[::1]:5000"],
    ["IPv6 upper case", "[FD00:EC2::254]", "[fd00:ec2::254]"],
    ["IPv6, the longest zero run compressed", "[2001:db8:0:0:1:0:0:0]", "[2001:db8:0:0:1::]"],
    ["IPv6, the first of equal runs", "[2001:0:0:1:0:0:1:1]", "[2001::1:0:0:1:1]"],
    ["IPv6, a single zero word is not compressed", "[2001:db8:0:1:1:1:1:1]", "[2001:db8:0:1:1:1:1:1]"],
    ["IPv4-compatible IPv6 stays IPv6", "[::127.0.0.1]", "[::7f00:1]"],
    ["the https default port", "ghcr.io:443", "ghcr.io"],
    ["the https default port on an IP", "127.0.0.1:443", "127.0.0.1"],
    ["the https default port on IPv6", "[::1]:443", "[::1]"],
    ["port 80 is not https's default", "ghcr.io:80", "ghcr.io:80"],
    ["a port with leading zeros", "ghcr.io:05000", "ghcr.io:5000"],
    ["upper case", "GHCR.IO", "ghcr.io"],
    ["a trailing root dot", "ghcr.io.", "ghcr.io"],
    ["Docker Hub", "docker.io", "docker.io"],
    ["Docker Hub's index", "index.docker.io", "docker.io"],
    ["Docker Hub's registry", "registry-1.docker.io", "docker.io"],
    ["Docker Hub's old name", "registry.hub.docker.com", "docker.io"],
    ["Docker Hub on its default port", "Index.Docker.IO:443", "docker.io"],
    ["localhost is a name, not folded", "localhost:5000", "localhost:5000"],
    ["a name ending in digits is a name", "registry.example2:5000", "registry.example2:5000"],
  ];
  for (const [what, spelling, canonical] of spellings) {
    it(`writes ${what} (${spelling}) as ${canonical}`, () => {
      expect(canonicalHost(spelling)).toBe(canonical);
    });
  }

  it("drops :80 only for plain http", () => {
    expect(canonicalHost("127.1:80", "http")).toBe("127.0.0.1");
    expect(canonicalHost("127.1:443", "http")).toBe("127.0.0.1:443");
  });

  it("tells different registries apart", () => {
    expect(sameHost("127.0.0.1:5000", "127.0.0.1:5001")).toBe(false);
    expect(sameHost("127.0.0.1:5000", "127.0.0.2:5000")).toBe(false);
    expect(sameHost("[::1]:5000", "127.0.0.1:5000")).toBe(false);
    expect(sameHost("ghcr.io", "ghcr.io:80")).toBe(false);
    expect(sameHost("docker.io", "quay.io")).toBe(false);
  });
});

describe("parseIPv6", () => {
  const refused = [
    "",
    "1",
    ":::1",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "12345::1",
    "::g",
    "1:",
    ":1",
  ];
  for (const text of refused)
    it(`refuses ${JSON.stringify(text)}`, () => {
      expect(parseIPv6(text)).toBeNull();
    });
  it("refuses a dotted tail that is not a strict dotted quad", () => {
    expect(parseIPv6("::ffff:127.1")).toBeNull();
    expect(parseIPv6("::ffff:127.0.0.256")).toBeNull();
  });
  it("reads brackets, a zone and a dotted tail", () => {
    expect(Array.from(parseIPv6("[fe80::1%eth0]")!)).toEqual([0xfe, 0x80, ...new Array(13).fill(0), 1]);
    expect(Array.from(parseIPv6("::ffff:10.0.0.1")!.slice(10))).toEqual([0xff, 0xff, 10, 0, 0, 1]);
  });
});

describe("splitHostPort", () => {
  it("splits host and port, IPv6 in brackets", () => {
    expect(splitHostPort("ghcr.io:5000")).toEqual({ host: "ghcr.io", port: "5000" });
    expect(splitHostPort("[::1]:5000")).toEqual({ host: "[::1]", port: "5000" });
    expect(splitHostPort("::1")).toEqual({ host: "::1" });
  });
  it("refuses what is not host[:port]", () => {
    expect(splitHostPort("ghcr.io:99999")).toBeNull();
    expect(splitHostPort("[::1]x")).toBeNull();
    expect(splitHostPort(":5000")).toBeNull();
  });
});

describe("canonicalRepository", () => {
  it("writes the registry of registry/repository canonically, the path unchanged", () => {
    expect(canonicalRepository("0x7f.1:5000/test/plain")).toBe("127.0.0.1:5000/test/plain");
    expect(canonicalRepository("index.docker.io/library/nginx")).toBe("docker.io/library/nginx");
  });
});

describe("hostEntryCovers", () => {
  const cases: [string, string, string, boolean][] = [
    // [policy entry, URL host, effective port, covered]
    ["127.0.0.1:5000", "127.0.0.1", "5000", true],
    ["127.1:5000", "127.0.0.1", "5000", true],
    ["0x7f.1:5000", "127.0.0.1", "5000", true],
    ["[::ffff:127.0.0.1]:5000", "127.0.0.1", "5000", true],
    ["127.0.0.1:5000", "[::ffff:7f00:1]", "5000", true],
    ["[0:0:0:0:0:0:0:1]", "[::1]", "5000", true],
    ["127.0.0.1", "127.0.0.1", "443", true],
    ["127.0.0.1:5000", "127.0.0.1", "5001", false],
    ["127.0.0.2", "127.0.0.1", "5000", false],
    ["REGISTRY.local", "registry.local", "443", true],
    ["not a host:x", "registry.local", "443", false],
  ];
  for (const [entry, host, port, covered] of cases)
    it(`${covered ? "covers" : "does not cover"} ${host}:${port} by ${entry}`, () => {
      expect(hostEntryCovers(entry, host, port)).toBe(covered);
    });
});
