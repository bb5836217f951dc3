// serve's scheduled audit end to end: the real `image-check serve` (HTTP mode, in a child process,
// as the shutdown test runs it) with IMAGE_CHECK_AUDIT_ENGINE naming the testbed's private dockerd
// and the policy's watch.auditIntervalMinutes set, the Slack Web API faked. A FROM scratch image
// with a static busybox whose command is `sleep` is pushed to the registry, pulled back by digest
// and run with no network, never approved here. The summary reaches the IT channel once, and not
// again while the set of unapproved containers stays the same, however many audits run; a new
// unapproved container is posted again.
//
// The engine is reached through a small HTTP forwarder to dockerd's socket that (1) counts the
// audits (container listings), so the test waits for audits rather than for time, and (2) narrows
// each listing to this test's containers with the Engine API's own label filter, since other
// test files run containers on the same dockerd at the same time.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeSlack, type SlackCall, startFakeSlack } from "../support/fake-slack.js";
import { pushImage, randomRepo, tarGzLayer } from "../support/image-builder.js";
import { ensureTools, TOOLS } from "../support/processes.js";
import { getTestbed, requireDockerd } from "../support/testbed.js";

const ROOT = resolve(import.meta.dirname, "../..");
const IT = "C0IT";

/** An HTTP forwarder to a unix socket that counts container listings and filters them by `label`. */
async function engineForwarder(socketPath: string, label: string) {
  let listings = 0;
  const waiters = new Set<() => void>();
  const server: Server = createServer((req: IncomingMessage, res) => {
    const url = new URL(req.url ?? "/", "http://engine");
    if (req.method === "GET" && /\/containers\/json$/.test(url.pathname)) {
      listings++;
      for (const w of [...waiters]) w();
      url.searchParams.set("filters", JSON.stringify({ label: [label] }));
    }
    const out = request(
      { socketPath, method: req.method, path: `${url.pathname}${url.search}`, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    out.on("error", () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    dockerHost: `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`,
    listings: () => listings,
    /** Resolves once `n` more listings than now have been asked for (the limit only turns a hang into a failure). */
    more: (n: number, limitMs = 20_000) =>
      new Promise<void>((done, fail) => {
        const target = listings + n;
        const timer = setTimeout(() => {
          waiters.delete(check);
          fail(new Error(`the engine was listed ${listings} times, never ${target}`));
        }, limitMs);
        const check = () => {
          if (listings < target) return;
          clearTimeout(timer);
          waiters.delete(check);
          done();
        };
        waiters.add(check);
      }),
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Reads a pull progress stream to its end; rejects on the first error line. */
async function follow(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  const output = await new Promise<Record<string, unknown>[]>((ok, fail) =>
    docker.modem.followProgress(stream, (err: Error | null, out: Record<string, unknown>[]) =>
      err ? fail(err) : ok(out),
    ),
  );
  const failed = output.find((line) => line.error);
  if (failed) throw new Error(`dockerd: ${String(failed.error)}`);
}

describe("image-check serve with a scheduled audit", () => {
  let fake: FakeSlack;
  let docker: Docker;
  let forwarder: Awaited<ReturnType<typeof engineForwarder>>;
  let serve: ChildProcess | undefined;
  let dir: string;
  let stderr = "";
  let label: string;
  let image: { name: string; digest: string };
  const containers: Docker.Container[] = [];

  /** Run `image` with no network, labelled for this test. */
  async function run(name: string): Promise<void> {
    const [key, value] = label.split("=") as [string, string];
    const c = await docker.createContainer({
      Image: image.name,
      name,
      Labels: { [key]: value },
      HostConfig: { NetworkMode: "none" },
    });
    containers.push(c);
    await c.start();
  }

  /** How many audit posts serve has queued (read from its store, so none still on its way is missed). */
  const queuedPosts = (): number => {
    const db = new Database(join(dir, "image-check.db"), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare("SELECT count(*) AS n FROM jobs WHERE kind = 'slack.audit'").get() as { n: number })
        .n;
    } finally {
      db.close();
    }
  };

  /** The audit summaries posted to the IT channel so far. */
  const summaries = (): SlackCall[] =>
    fake
      .ok("chat.postMessage")
      .filter((c) => c.body.channel === IT && JSON.stringify(c.body).includes("Audit of"));

  beforeAll(async () => {
    const { socket } = requireDockerd();
    docker = new Docker({ socketPath: socket });
    const suffix = randomBytes(4).toString("hex");
    label = `image-check-test=serve-audit-${suffix}`;
    forwarder = await engineForwarder(socket, label);
    fake = await startFakeSlack();

    const repo = randomRepo("serve-audit");
    const busybox = readFileSync(ensureTools({ busybox: TOOLS.busybox }).paths.busybox);
    const pushed = await pushImage(
      getTestbed().open,
      repo,
      {
        layers: [tarGzLayer({ "bin/busybox": busybox }, 0o755)],
        config: { Entrypoint: ["/bin/busybox"], Cmd: ["sleep", "3607"] },
      },
      "1",
    );
    image = { name: `${getTestbed().open.host}/${repo}@${pushed.digest}`, digest: pushed.digest };
    await follow(docker, await docker.pull(image.name));
    await run(`ic-serve-audit-a-${suffix}`);

    dir = mkdtempSync(join(tmpdir(), "image-check-serve-audit-"));
    // 0.005 minutes: an audit every 300 ms, so the test sees many audits of the same state.
    writeFileSync(join(dir, "policy.yaml"), "watch:\n  auditIntervalMinutes: 0.005\n");
    serve = spawn(process.execPath, ["--import", "tsx", "test/support/slack-serve-child.ts"], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        SLACK_BOT_TOKEN: "xoxb-serve-audit",
        SLACK_SIGNING_SECRET: "serve-audit-secret",
        SLACK_API_URL: fake.apiUrl,
        IMAGE_CHECK_IT_CHANNEL: IT,
        IMAGE_CHECK_APPROVERS: "UAPPROVER",
        IMAGE_CHECK_DB: join(dir, "image-check.db"),
        IMAGE_CHECK_POLICY: join(dir, "policy.yaml"),
        IMAGE_CHECK_AUDIT_ENGINE: forwarder.dockerHost,
        PORT: "0",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    serve.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
  });

  afterAll(async () => {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((r) => serve!.once("exit", r));
      serve.kill("SIGTERM");
      await exited;
    }
    await Promise.allSettled(containers.map((c) => c.remove({ force: true })));
    await Promise.allSettled([forwarder?.stop(), fake?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe("when a container runs an image never approved here", () => {
    let first: SlackCall;

    beforeAll(async () => {
      first = await fake.until(() => summaries()[0], "the audit summary in the IT channel");
    });

    it("posts the summary to the IT channel: the container, its image by digest, never decided, and its sleep", () => {
      const text = JSON.stringify(first.body);
      expect(text).toContain("ic-serve-audit-a-");
      expect(text).toContain(image.digest);
      expect(text).toContain("never decided here");
      expect(text).toContain("sleep 3607");
      expect(text).toContain(forwarder.dockerHost);
    });

    it("does not post again while the same containers run unapproved, audit after audit", async () => {
      await forwarder.more(5);
      expect(queuedPosts()).toBe(1);
      expect(summaries()).toHaveLength(1);
      expect(stderr).not.toContain("audit of");
    });
  });

  describe("when another unapproved container starts", () => {
    it("posts again, once, naming both", async () => {
      await run(`ic-serve-audit-b-${label.slice(-8)}`);
      const second = await fake.until(() => summaries()[1], "a second audit summary");
      const text = JSON.stringify(second.body);
      expect(text).toContain("ic-serve-audit-a-");
      expect(text).toContain("ic-serve-audit-b-");
      await forwarder.more(5);
      expect(queuedPosts()).toBe(2);
      expect(summaries()).toHaveLength(2);
    });
  });
});
