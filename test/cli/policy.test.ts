import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { CliIO } from "../../src/cli/args.js";
import { loadPolicy } from "../../src/cli/load-policy.js";
import { main } from "../../src/cli/main.js";
import { PolicyError } from "../../src/policy/parse.js";
import { defaultPolicy } from "../../src/policy/schema.js";
import { parsePolicy } from "../../src/policy/yaml.js";

const dir = mkdtempSync(join(tmpdir(), "image-check-policy-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PEM =
  "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEexample\n-----END PUBLIC KEY-----\n";

async function cli(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: CliIO = { stdout: (t) => (out += t), stderr: (t) => (err += t), env, isTTY: false, cwd: dir };
  const code = await main(argv, io);
  return { code, out, err };
}

function file(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return name;
}

describe("image-check policy", () => {
  it("--print-default prints the commented default policy", async () => {
    const r = await cli(["policy", "--print-default"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^# image-check policy/);
    expect(parsePolicy(r.out, "stdout")).toEqual(defaultPolicy());
  });

  it("--help explains both uses", async () => {
    const r = await cli(["policy", "--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("--print-default");
    expect(r.out).toContain("--check FILE");
  });

  it("--check accepts a valid file", async () => {
    const r = await cli(["policy", "--check", file("ok.yaml", "maxAgeDays: 30\n")]);
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(r.out).toMatch(/ok\.yaml: valid \(policy version [0-9a-f]{12}\)/);
  });

  it("--check gives exit 64 and one line naming the field", async () => {
    const r = await cli([
      "policy",
      "--check",
      file("bad.yaml", "registries:\n  allowPrivate: ['bad host!']\n"),
    ]);
    expect(r.code).toBe(64);
    expect(r.out).toBe("");
    expect(r.err.trimEnd().split("\n")).toHaveLength(1);
    expect(r.err).toContain("bad.yaml: registries.allowPrivate[0]: expected a registry host");
  });

  it("--check gives exit 64 for a missing file", async () => {
    expect((await cli(["policy", "--check", "nope.yaml"])).code).toBe(64);
  });

  it("rejects no flag, both flags and unknown flags with exit 64", async () => {
    expect((await cli(["policy"])).code).toBe(64);
    expect((await cli(["policy", "--print-default", "--check", "x.yaml"])).code).toBe(64);
    expect((await cli(["policy", "--bogus"])).code).toBe(64);
  });
});

describe("loadPolicy", () => {
  it("uses the built-in default without --policy or IMAGE_CHECK_POLICY", async () => {
    expect(await loadPolicy(undefined, {}, dir)).toEqual({
      policy: defaultPolicy(),
      source: "built-in default",
    });
  });

  it("uses, when bundled, the same default the schema gives (the copy npm run build embeds)", async () => {
    const { execFile } = await import("node:child_process");
    const { promisify } = await import("node:util");
    const { stdout } = await promisify(execFile)(process.execPath, ["scripts/default-policy.mjs"]);
    expect(JSON.parse(stdout)).toEqual(defaultPolicy());
  });

  it("prefers --policy over IMAGE_CHECK_POLICY", async () => {
    file("a.yaml", "maxAgeDays: 1\n");
    file("b.yaml", "maxAgeDays: 2\n");
    expect((await loadPolicy("a.yaml", { IMAGE_CHECK_POLICY: "b.yaml" }, dir)).policy.maxAgeDays).toBe(1);
    expect((await loadPolicy(undefined, { IMAGE_CHECK_POLICY: "b.yaml" }, dir)).policy.maxAgeDays).toBe(2);
  });

  it("reads key files relative to the policy file", async () => {
    const { mkdirSync } = await import("node:fs");
    mkdirSync(join(dir, "conf", "keys"), { recursive: true });
    writeFileSync(join(dir, "conf", "keys", "release.pub"), PEM);
    writeFileSync(
      join(dir, "conf", "policy.yaml"),
      "trust:\n  keys:\n    - name: release\n      path: ./keys/release.pub\n",
    );
    const { policy } = await loadPolicy("conf/policy.yaml", {}, dir);
    expect(policy.trust.keys[0]).toEqual({ name: "release", path: "./keys/release.pub", pem: PEM });
  });

  it.each([
    ["a missing policy file", undefined, "POLICY_NOT_FOUND"],
    ["a missing key file", "trust:\n  keys:\n    - name: gone\n      path: ./gone.pub\n", "KEY_NOT_FOUND"],
    [
      "a key file that is not PEM",
      "trust:\n  keys:\n    - name: junk\n      path: ./junk.pub\n",
      "INVALID_POLICY",
    ],
  ])("fails with a coded error for %s", async (_what, text, code) => {
    file("junk.pub", "not a key");
    const name = text === undefined ? "missing.yaml" : file(`p-${code}.yaml`, text);
    const err = await loadPolicy(name, {}, dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyError);
    expect((err as PolicyError).code).toBe(code);
  });
});

describe("loadPolicy, when the policy names something that is not a small regular file", () => {
  it.each([
    [
      "a key path at /dev/zero",
      "trust:\n  keys:\n    - name: z\n      path: /dev/zero\n",
      "trust.keys[0].path",
    ],
    ["a key path at a folder", "trust:\n  keys:\n    - name: d\n      path: /\n", "trust.keys[0].path"],
    [
      "a key file over 64 KiB",
      "trust:\n  keys:\n    - name: big\n      path: ./big.pub\n",
      "trust.keys[0].path",
    ],
  ])("refuses %s with INVALID_POLICY naming the field", async (_what, text, field) => {
    file("big.pub", PEM + "#".repeat(64 * 1024));
    const err = await loadPolicy(file("endless.yaml", text), {}, dir).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "INVALID_POLICY" });
    expect((err as Error).message).toContain(`endless.yaml: ${field}`);
  });

  it("names an absolute path once, and a relative one with where it was looked for", async () => {
    const zero = await loadPolicy(
      file("z.yaml", "trust:\n  keys:\n    - name: z\n      path: /dev/zero\n"),
      {},
      dir,
    ).catch((e: unknown) => e);
    expect((zero as Error).message).toMatch(/key file \/dev\/zero is not a regular file$/);
    file("big.pub", PEM + "#".repeat(64 * 1024));
    const big = await loadPolicy(
      file("b.yaml", "trust:\n  keys:\n    - name: big\n      path: ./big.pub\n"),
      {},
      dir,
    ).catch((e: unknown) => e);
    expect((big as Error).message).toMatch(
      /key file \.\/big\.pub is larger than 65536 bytes \(\/.*\/big\.pub\)$/,
    );
  });

  it("refuses a policy file that is a device, without reading it", async () => {
    const err = await loadPolicy("/dev/zero", {}, dir).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "INVALID_POLICY" });
    expect((err as Error).message).toContain("policy file /dev/zero is not a regular file");
  });

  it("makes check exit 64 with one line for a key path at /dev/zero", async () => {
    file("zero.yaml", "trust:\n  keys:\n    - name: z\n      path: /dev/zero\n");
    const r = await cli(["check", "--no-store", "--policy", "zero.yaml", "127.0.0.1:1/x/y:1"]);
    expect(r.code).toBe(64);
    expect(r.err.trimEnd().split("\n")).toHaveLength(1);
    expect(r.err).toContain("zero.yaml: trust.keys[0].path: key file /dev/zero is not a regular file");
  });
});
