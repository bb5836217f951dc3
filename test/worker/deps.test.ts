import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { policySchema } from "../../src/policy/schema.js";
import { createCheckRunner } from "../../src/worker/deps.js";
import { classify } from "../../src/worker/retry.js";

/** A loopback port nothing listens on: a registry that is down. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe("createCheckRunner", () => {
  describe("when the registry is down", async () => {
    const host = `127.0.0.1:${await closedPort()}`;
    const env = { HOME: "/nonexistent", DOCKER_CONFIG: "/nonexistent" };
    const runner = await createCheckRunner({
      policy: policySchema.parse({ registries: { allowPrivate: [host], allowInsecure: [host] } }),
      policySource: "built-in default",
      config: loadConfig(env),
      env,
      cwd: "/",
    });

    it("throws the temporary error so the worker retries", async () => {
      const err = await runner({ reference: `${host}/team/app:1` }, new AbortController().signal).catch(
        (e) => e,
      );
      expect(err).toMatchObject({ code: "NETWORK" });
    });

    it("on the last attempt returns a report that cannot pass, naming the error", async () => {
      const report = await runner(
        { reference: `${host}/team/app:1`, lastAttempt: true },
        new AbortController().signal,
      );
      expect(report.verdict).not.toBe("pass");
      const incomplete = report.findings.find((f) => f.id === "check.incomplete");
      expect(JSON.stringify(incomplete)).toContain("NETWORK");
    });
  });

  describe("when the registry drips its answer past the policy's limits.checkSeconds", async () => {
    // A registry that answers every request with a body it never finishes: a byte every 50 ms.
    const server = createHttpServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" });
      const timer = setInterval(() => res.write(" "), 50);
      res.on("close", () => clearInterval(timer));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
    const env = { HOME: "/nonexistent", DOCKER_CONFIG: "/nonexistent" };
    const runner = await createCheckRunner({
      policy: policySchema.parse({
        registries: { allowPrivate: [host], allowInsecure: [host] },
        limits: { checkSeconds: 0.5 },
      }),
      policySource: "built-in default",
      config: loadConfig(env),
      env,
      cwd: "/",
    });
    afterAll(() => {
      server.closeAllConnections();
      server.close();
    });

    it("ends the check with DEADLINE, a report that cannot pass, not an error the queue retries", async () => {
      const report = await runner({ reference: `${host}/team/app:1` }, new AbortController().signal);
      expect(report.verdict).not.toBe("pass");
      const incomplete = report.findings.find((f) => f.id === "check.incomplete");
      expect(JSON.stringify(incomplete)).toContain("DEADLINE");
    });

    it("is final for the queue's retry table", () => {
      expect(classify(Object.assign(new Error("x"), { code: "DEADLINE" })).temporary).toBe(false);
    });
  });

  describe("when the policy's trusted root cannot be read", () => {
    it("fails at once with a coded error, before any check runs", async () => {
      const env = { HOME: "/nonexistent" };
      const err = await createCheckRunner({
        policy: policySchema.parse({ trust: { trustedRoot: "./missing-root.json" } }),
        policySource: "/etc/image-check/policy.yaml",
        config: loadConfig(env),
        env,
        cwd: "/",
      }).catch((e) => e);
      expect(err).toMatchObject({ code: "TRUSTED_ROOT_UNREADABLE" });
      expect(err.message).toContain("missing-root.json");
    });

    it.each([
      ["/dev/urandom", "is not a regular file"],
      ["/", "is not a regular file"],
    ])("refuses %s as a policy mistake (exit 64) naming the field, without reading it", async (path, why) => {
      const env = { HOME: "/nonexistent" };
      const err = await createCheckRunner({
        policy: policySchema.parse({ trust: { trustedRoot: path } }),
        policySource: "/etc/image-check/policy.yaml",
        config: loadConfig(env),
        env,
        cwd: "/",
      }).catch((e) => e);
      expect(err).toMatchObject({ code: "INVALID_POLICY" });
      expect(err.message).toContain(`/etc/image-check/policy.yaml: trust.trustedRoot: ${path} ${why}`);
    });
  });
});
