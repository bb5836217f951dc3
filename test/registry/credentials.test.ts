import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { dockerConfigCredentials } from "../../src/registry/index.js";
import { codeOf } from "./helpers.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "image-check-creds-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const b64 = (s: string) => Buffer.from(s).toString("base64");

function writeConfig(config: unknown): void {
  writeFileSync(join(dir, "config.json"), typeof config === "string" ? config : JSON.stringify(config));
}

/** Writes `docker-credential-<name>` into the temp dir with the given shell body. */
function writeHelper(name: string, body: string): void {
  const path = join(dir, `docker-credential-${name}`);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
}

function store(extra: { helperTimeoutMs?: number } = {}) {
  return dockerConfigCredentials({ configDir: dir, env: { PATH: `${dir}:/usr/bin:/bin` }, ...extra });
}

describe("dockerConfigCredentials", () => {
  describe("when config.json has auths", () => {
    it("decodes base64 user:password by host, URL-shaped keys included", async () => {
      writeConfig({
        auths: {
          "ghcr.io": { auth: b64("octo:pa:ss") },
          "http://127.0.0.1:5000/v2/": { auth: b64("local:secret") },
          "https://index.docker.io/v1/": { auth: b64("hubuser:hubpass") },
        },
      });
      const s = store();
      expect(await s.get("ghcr.io")).toEqual({ username: "octo", password: "pa:ss" });
      expect(await s.get("127.0.0.1:5000")).toEqual({ username: "local", password: "secret" });
      expect(await s.get("docker.io")).toEqual({ username: "hubuser", password: "hubpass" });
      expect(await s.get("quay.io")).toBeUndefined();
    });

    it("returns an identity token as such", async () => {
      writeConfig({ auths: { "r.example": { identitytoken: "refresh" } } });
      expect(await store().get("r.example")).toEqual({ identityToken: "refresh" });
    });

    it("fails with CREDENTIALS for an auth that is not user:password", async () => {
      writeConfig({ auths: { "r.example": { auth: b64("nocolon") } } });
      expect(await codeOf(store().get("r.example"))).toBe("CREDENTIALS");
    });
  });

  describe("when there is no config.json", () => {
    it("is anonymous", async () => {
      expect(await store().get("ghcr.io")).toBeUndefined();
    });
  });

  describe("when config.json is not JSON", () => {
    it("fails with CREDENTIALS", async () => {
      writeConfig("{not json");
      expect(await codeOf(store().get("ghcr.io"))).toBe("CREDENTIALS");
    });
  });

  describe("when a credential helper is configured", () => {
    it("passes the server URL on stdin and reads Username and Secret", async () => {
      writeHelper(
        "echo",
        `read server; printf '{"ServerURL":"%s","Username":"u-%s","Secret":"s"}' "$server" "$server"`,
      );
      writeConfig({ credHelpers: { "ghcr.io": "echo", "docker.io": "echo" } });
      const s = store();
      expect(await s.get("ghcr.io")).toEqual({ username: "u-ghcr.io", password: "s" });
      expect(await s.get("docker.io")).toEqual({ username: "u-https://index.docker.io/v1/", password: "s" });
    });

    it("uses credsStore for registries without their own helper, before auths", async () => {
      writeHelper("store", `read server; printf '{"Username":"from-store","Secret":"x"}'`);
      writeConfig({ credsStore: "store", auths: { "ghcr.io": { auth: b64("inline:pw") } } });
      expect(await store().get("ghcr.io")).toEqual({ username: "from-store", password: "x" });
    });

    it("treats Username <token> as an identity token", async () => {
      writeHelper("tok", `printf '{"Username":"<token>","Secret":"refresh"}'`);
      writeConfig({ credHelpers: { "ghcr.io": "tok" } });
      expect(await store().get("ghcr.io")).toEqual({ identityToken: "refresh" });
    });

    it("is anonymous when the helper says credentials not found", async () => {
      writeHelper("none", `echo "credentials not found in native keychain"; exit 1`);
      writeConfig({ credHelpers: { "ghcr.io": "none" } });
      expect(await store().get("ghcr.io")).toBeUndefined();
    });

    it("runs the helper once per registry", async () => {
      const counter = join(dir, "count");
      writeHelper("counted", `echo x >> "${counter}"; printf '{"Username":"u","Secret":"s"}'`);
      writeConfig({ credHelpers: { "ghcr.io": "counted" } });
      const s = store();
      await Promise.all([s.get("ghcr.io"), s.get("ghcr.io"), s.get("ghcr.io")]);
      const { readFileSync } = await import("node:fs");
      expect(readFileSync(counter, "utf8").trim().split("\n")).toHaveLength(1);
    });

    it.each([
      ["fails", `echo "keychain locked" >&2; exit 3`],
      ["answers garbage", `echo not-json`],
      ["hangs", `exec sleep 30`],
    ])("fails with CREDENTIALS when the helper %s", async (_what, body) => {
      writeHelper("bad", body);
      writeConfig({ credHelpers: { "ghcr.io": "bad" } });
      expect(await codeOf(store({ helperTimeoutMs: 300 }).get("ghcr.io"))).toBe("CREDENTIALS");
    });

    it("fails with CREDENTIALS when the helper is not installed", async () => {
      writeConfig({ credHelpers: { "ghcr.io": "missing" } });
      expect(await codeOf(store().get("ghcr.io"))).toBe("CREDENTIALS");
    });

    it("refuses a helper name that is not a plain name", async () => {
      writeConfig({ credHelpers: { "ghcr.io": "../../bin/sh" } });
      expect(await codeOf(store().get("ghcr.io"))).toBe("CREDENTIALS");
    });
  });
});
