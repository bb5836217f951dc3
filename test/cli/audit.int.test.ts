// `image-check audit` against the testbed's real private dockerd: FROM scratch images holding a
// static busybox whose command is `sleep`, pushed to the open registry, pulled back by digest and
// run with no network; one digest approved in the store, one pending, one never decided, and one
// image built on the engine itself (no repo digest).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReference, repositoryPath } from "../../src/reference/parse.js";
import { openStore } from "../../src/store/service.js";
import type { AuditReport } from "../../src/worker/audit.js";
import { checkedRequest, tempDir } from "../store/support.js";
import { runCli } from "../support/cli.js";
import { pushImage, randomRepo, tarFiles, tarGzLayer } from "../support/image-builder.js";
import { ensureTools, TOOLS } from "../support/processes.js";
import { getTestbed, requireDockerd } from "../support/testbed.js";

/** Reads a pull or build progress stream to its end; rejects on the first error line. */
async function follow(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  const output = await new Promise<Record<string, unknown>[]>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, out: Record<string, unknown>[]) =>
      err ? reject(err) : resolve(out),
    ),
  );
  const failed = output.find((line) => line.error);
  if (failed) throw new Error(`dockerd: ${String(failed.error)}`);
}

describe("image-check audit with a real dockerd", () => {
  let docker: Docker;
  let dockerHost: string;
  let registryHost: string;
  let cwd: string;
  let dbPath: string;
  const containers: Docker.Container[] = [];
  const ids: Record<"approved" | "pending" | "never" | "local", string> = {
    approved: "",
    pending: "",
    never: "",
    local: "",
  };
  const digests: Record<"approved" | "pending" | "never", string> = { approved: "", pending: "", never: "" };
  let repo: string;

  /** Push a scratch image with busybox whose command sleeps for `seconds`; pull it back by digest. */
  async function pushAndPull(seconds: string): Promise<{ name: string; digest: string }> {
    const busybox = readFileSync(ensureTools({ busybox: TOOLS.busybox }).paths.busybox);
    const pushed = await pushImage(
      getTestbed().open,
      repo,
      {
        layers: [tarGzLayer({ "bin/busybox": busybox }, 0o755)],
        config: { Entrypoint: ["/bin/busybox"], Cmd: ["sleep", seconds] },
      },
      seconds,
    );
    const name = `${registryHost}/${repo}@${pushed.digest}`;
    await follow(docker, await docker.pull(name));
    return { name, digest: pushed.digest };
  }

  async function run(image: string, label: string): Promise<string> {
    const c = await docker.createContainer({
      Image: image,
      name: `ic-audit-${label}-${repo.split("/")[1]}`,
      HostConfig: { NetworkMode: "none" },
    });
    containers.push(c);
    await c.start();
    return c.id;
  }

  beforeAll(async () => {
    ({ dockerHost } = requireDockerd());
    docker = new Docker({ socketPath: requireDockerd().socket });
    registryHost = getTestbed().open.host;
    repo = randomRepo("audit");
    cwd = tempDir();
    dbPath = join(cwd, "store.db");

    const [approved, pending, never] = [
      await pushAndPull("3601"),
      await pushAndPull("3602"),
      await pushAndPull("3603"),
    ];
    digests.approved = approved.digest;
    digests.pending = pending.digest;
    digests.never = never.digest;
    // Built on the engine from the pulled image: a new image id that no registry ever saw.
    const context = tarFiles({ Dockerfile: `FROM ${never.name}\nLABEL built=here\n` });
    const localName = `local-${repo.split("/")[1]}:1`;
    await follow(
      docker,
      await docker.buildImage(Readable.from([context]), { t: localName, version: "1", rm: true }),
    );

    const repository = repositoryPath(parseReference(`${registryHost}/${repo}`));
    const store = openStore(dbPath);
    const ok = await checkedRequest(store, {
      repository,
      tag: "3601",
      digest: approved.digest,
      verdict: "review",
    });
    await store.decide({
      requestId: ok.id,
      decision: "approved",
      decidedBy: "U_IT",
      isApprover: true,
      now: new Date(),
      expireDays: 90,
    });
    await checkedRequest(store, { repository, tag: "3602", digest: pending.digest, verdict: "review" });
    await store.close();

    ids.approved = await run(approved.name, "approved");
    ids.pending = await run(pending.name, "pending");
    ids.never = await run(never.name, "never");
    ids.local = await run(localName, "local");
  });

  afterAll(async () => {
    await Promise.allSettled(containers.map((c) => c.remove({ force: true })));
  });

  const audit = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    runCli(["audit", ...args], { cwd, env: { DOCKER_HOST: dockerHost, IMAGE_CHECK_DB: dbPath, ...env } });

  describe("when one running container's digest is approved and others are not", () => {
    let report: AuditReport;
    let code: number;

    beforeAll(async () => {
      const r = await audit(["--json"]);
      code = r.code;
      report = JSON.parse(r.stdout) as AuditReport;
    });

    const mine = (id: string) => report.containers.find((c) => c.id === id)!;

    it("exits 1 and counts the running containers without a standing approval", async () => {
      expect(code).toBe(1);
      expect(report.schema).toBe("image-check/audit@1");
      expect(report.engine).toBe(dockerHost);
      expect(report.unapproved).toBeGreaterThanOrEqual(3);
    });

    it("reports the registry digest of each pulled image and its standing decision", async () => {
      expect(mine(ids.approved)).toMatchObject({
        digest: digests.approved,
        state: "running",
        decision: { status: "approved", decidedBy: "U_IT" },
      });
      expect(mine(ids.approved).decision?.expiresAt).toMatch(/^\d{4}-/);
      expect(mine(ids.pending)).toMatchObject({
        digest: digests.pending,
        decision: { status: "pending", decidedBy: null },
      });
      expect(mine(ids.never)).toMatchObject({ digest: digests.never, decision: null });
    });

    it("reports the locally built image as having no digest, never approved", async () => {
      expect(mine(ids.local)).toMatchObject({ digest: null, decision: null });
    });

    it("shows the processes (docker top) of the containers without an approval, and not of the approved one", async () => {
      expect(mine(ids.approved).processes).toBeUndefined();
      expect(mine(ids.pending).processes?.map((p) => p.command)).toEqual(["/bin/busybox sleep 3602"]);
      expect(mine(ids.never).processes?.[0]).toMatchObject({
        user: "root",
        command: "/bin/busybox sleep 3603",
      });
      expect(mine(ids.local).processes?.map((p) => p.command)).toEqual(["/bin/busybox sleep 3603"]);
    });
  });

  describe("when the output is for people", () => {
    it("names each container's digest and decision, and the processes of the unapproved", async () => {
      const { code, stdout } = await audit([]);
      expect(code).toBe(1);
      expect(stdout).toContain(`digest:   ${digests.approved}`);
      expect(stdout).toContain("decision: approved by U_IT until ");
      expect(stdout).toContain("none (built locally, never pushed or pulled: never approved)");
      expect(stdout).toContain("/bin/busybox sleep 3602");
      expect(stdout).not.toContain("/bin/busybox sleep 3601");
    });
  });

  describe("when a container is stopped", () => {
    it("lists it only with --all, and it does not count as running unapproved", async () => {
      const stopped = await docker.createContainer({
        Image: `${registryHost}/${repo}@${digests.never}`,
        name: `ic-audit-stopped-${repo.split("/")[1]}`,
        HostConfig: { NetworkMode: "none" },
      });
      containers.push(stopped);
      const running = JSON.parse((await audit(["--json"])).stdout) as AuditReport;
      const all = JSON.parse((await audit(["--json", "--all"])).stdout) as AuditReport;
      expect(running.containers.map((c) => c.id)).not.toContain(stopped.id);
      expect(all.containers.find((c) => c.id === stopped.id)).toMatchObject({
        state: "created",
        digest: digests.never,
        processes: [],
      });
    });
  });

  describe("when the engine cannot be reached", () => {
    it("exits 3 with one line naming the socket", async () => {
      const socket = join(cwd, "no-engine.sock");
      const { code, stdout, stderr } = await audit(["--json"], { DOCKER_HOST: `unix://${socket}` });
      expect(code).toBe(3);
      expect(stdout).toBe("");
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(stderr).toContain(`unix://${socket}`);
    });
  });
});
