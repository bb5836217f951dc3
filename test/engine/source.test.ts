import { describe, expect, it, vi } from "vitest";
import { EngineSource, type RegistryArtifactsLookup } from "../../src/engine/index.js";
import { CodedError } from "../../src/errors.js";
import type { ImageFacts, SignatureArtifact } from "../../src/facts/model.js";
import { parseReference } from "../../src/reference/parse.js";
import { configFacts as registryConfigFacts } from "../../src/registry/image-config.js";
import {
  codeOf,
  type FakeEngineOptions,
  fakeEngine,
  RECORDED,
  recording,
  systemError,
} from "./fake-engine.js";

const ref = parseReference(RECORDED.ref);

const SIGNATURE: SignatureArtifact = {
  kind: "cosign",
  foundVia: `tag:${RECORDED.digest.replace(":", "-")}.sig`,
  manifestDigest: `sha256:${"9".repeat(64)}`,
  subjectDigest: RECORDED.digest,
  manifestAnnotations: {},
  blobs: [],
};

/** A registry that has no signatures or attestations for the image. */
const NONE_FOUND: RegistryArtifactsLookup = async () => ({
  signatures: [],
  attestations: [],
  incomplete: [],
});

function source(
  options: FakeEngineOptions = {},
  registryArtifacts: RegistryArtifactsLookup | null = NONE_FOUND,
) {
  const fake = fakeEngine(options);
  const engine = new EngineSource({
    docker: fake.transport,
    ...(registryArtifacts ? { registryArtifacts } : {}),
  });
  return { engine, calls: fake.calls };
}

describe("EngineSource", () => {
  describe("when the image is in the engine (answers recorded from dockerd 20.10)", () => {
    const lookup = vi.fn<RegistryArtifactsLookup>(async () => ({
      signatures: [SIGNATURE],
      attestations: [],
      incomplete: [],
    }));
    let facts: ImageFacts;
    let calls: ReturnType<typeof source>["calls"];

    it("gathers the facts", async () => {
      const s = source({}, lookup);
      calls = s.calls;
      facts = await s.engine.gather(ref);
      expect(facts.source).toBe("engine");
    });

    it("maps the config exactly as the registry source maps the pushed config blob", () => {
      const rec = recording();
      expect(facts.config).toEqual(
        registryConfigFacts(rec.registryConfig.config, rec.registryConfig as never),
      );
      expect(facts.config.user).toBe("1000:1000");
      expect(facts.config.exposedPorts).toEqual(["53/udp", "8080/tcp"]);
      expect(facts.config.healthcheck).toEqual({
        test: ["CMD", "/bin/busybox", "true"],
        intervalNs: 30_000_000_000,
        timeoutNs: 3_000_000_000,
        retries: 2,
      });
    });

    it("names the image by its repo digest, the config by the image id, and the manifest from distribution inspect", () => {
      expect(facts.digest).toBe(RECORDED.digest);
      expect(facts.configDigest).toBe(RECORDED.id);
      expect(facts.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
      expect(facts.manifestDigest).toBe(RECORDED.digest);
      expect(facts.platform).toEqual({ os: "linux", architecture: "amd64" });
      expect(facts.platforms).toEqual([{ os: "linux", architecture: "amd64" }]);
    });

    it("lists the containers of the image, with `top` for the running one only", () => {
      const containers = facts.engineInfo!.containers;
      expect(containers.map((c) => [c.names, c.state])).toEqual([
        [["c2"], "created"],
        [["c1"], "running"],
      ]);
      const running = containers.find((c) => c.state === "running")!;
      expect(running.top?.titles).toEqual(["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
      expect(running.top?.processes[0]?.at(-1)).toBe("/bin/busybox sleep 3600");
      expect(containers.find((c) => c.state === "created")!.top).toBeUndefined();
      const list = calls.find((c) => c.path === "/containers/json");
      expect(JSON.parse(list!.query!.filters!)).toEqual({ ancestor: [RECORDED.id] });
      expect(list!.query!.all).toBe("true");
    });

    it("asks the registry for signatures and attestations of the repo digest", () => {
      expect(lookup).toHaveBeenCalledWith(ref, [RECORDED.digest], undefined);
      expect(facts.signatures).toEqual([SIGNATURE]);
      expect(facts.incomplete).toEqual([]);
    });

    it("counts every engine call and speaks the engine's API version in each", () => {
      expect(facts.stats.requests).toBe(calls.length);
      expect(facts.stats.byKind).toEqual({
        "engine GET version": 1,
        "engine GET image": 1,
        "engine GET history": 1,
        "engine GET distribution": 1,
        "engine GET containers": 1,
        "engine GET top": 1,
      });
      expect(calls[0]).toEqual({ path: "/version" });
      expect(calls.slice(1).every((c) => c.apiVersion === "1.41")).toBe(true);
      expect(facts.engineInfo!.apiVersion).toBe("1.41");
      expect(facts.stats.bytes).toBeGreaterThan(0);
    });

    it("records what the engine knows of the image", () => {
      expect(facts.engineInfo).toMatchObject({
        id: RECORDED.id,
        repoTags: [RECORDED.ref, "python:3.12"],
        repoDigests: [`127.0.0.1:5999/dev/scratch@${RECORDED.digest}`],
      });
    });
  });

  describe("when negotiating the API version", () => {
    it("speaks its own newest version to a newer engine", async () => {
      const { engine, calls } = source({ serverApiVersion: "1.51" });
      await engine.gather(ref);
      expect(await engine.apiVersion()).toBe("1.48");
      expect(calls.filter((c) => c.apiVersion).every((c) => c.apiVersion === "1.48")).toBe(true);
    });

    it("asks once per source", async () => {
      const { engine, calls } = source();
      await engine.gather(ref);
      const second = await engine.gather(ref);
      expect(calls.filter((c) => c.path === "/version")).toHaveLength(1);
      expect(second.stats.byKind["engine GET version"]).toBeUndefined();
    });

    it("keeps negotiating for a second caller when the first one gives up", async () => {
      const fake = fakeEngine();
      let answerVersion: () => void = () => {};
      const versionAsked = new Promise<void>((resolve) => {
        answerVersion = resolve;
      });
      const engine = new EngineSource({
        docker: {
          get: async (path, o) => {
            if (path === "/version") await versionAsked;
            return fake.transport.get(path, o);
          },
        },
      });
      const controller = new AbortController();
      const first = engine.gather(ref, { signal: controller.signal });
      const second = engine.gather(ref);
      controller.abort();
      answerVersion();
      expect(await codeOf(first)).toBe("ABORTED");
      expect((await second).engineInfo?.apiVersion).toBe("1.41");
      expect(fake.calls.filter((c) => c.path === "/version")).toHaveLength(1);
    });

    it("asks again after a failed negotiation", async () => {
      const fake = fakeEngine();
      let down = true;
      const engine = new EngineSource({
        docker: {
          get: (path, o) =>
            down ? Promise.reject(systemError("ECONNREFUSED")) : fake.transport.get(path, o),
        },
      });
      expect(await codeOf(engine.gather(ref))).toBe("ENGINE_UNAVAILABLE");
      down = false;
      expect((await engine.gather(ref)).engineInfo?.apiVersion).toBe("1.41");
    });
  });

  describe("when the image is looked up", () => {
    it("uses the familiar name for a Docker Hub reference, with the default tag", async () => {
      const { engine, calls } = source({
        answers: { "/images/python:latest/json": { status: 404, body: { message: "x" } } },
      });
      await codeOf(engine.gather(parseReference("docker.io/library/python")));
      expect(calls.map((c) => c.path)).toContain("/images/python:latest/json");
    });

    it("says IMAGE_NOT_IN_ENGINE when the engine's image is for another platform than the one asked for", async () => {
      const { engine } = source();
      const gathering = engine.gather(ref, { platform: { os: "linux", architecture: "arm64" } });
      expect(await codeOf(gathering)).toBe("IMAGE_NOT_IN_ENGINE");
    });

    it("accepts the image for the platform asked for", async () => {
      const facts = await source().engine.gather(ref, { platform: { os: "linux", architecture: "amd64" } });
      expect(facts.platform).toEqual({ os: "linux", architecture: "amd64" });
    });

    it("looks a pinned reference up by its digest", async () => {
      const { engine, calls } = source();
      const facts = await engine.gather(parseReference(`127.0.0.1:5999/dev/scratch:1@${RECORDED.digest}`));
      expect(calls.map((c) => c.path)).toContain(
        `/images/127.0.0.1:5999/dev/scratch@${RECORDED.digest}/json`,
      );
      expect(facts.digest).toBe(RECORDED.digest);
    });
  });

  describe("when something is missing or fails", () => {
    it("says IMAGE_NOT_IN_ENGINE for an image the engine does not have", async () => {
      const { engine } = source();
      expect(await codeOf(engine.gather(parseReference("127.0.0.1:5999/dev/nothing:1")))).toBe(
        "IMAGE_NOT_IN_ENGINE",
      );
    });

    it.each(["ENOENT", "ECONNREFUSED", "EACCES"])(
      "says ENGINE_UNAVAILABLE when the socket fails with %s",
      async (code) => {
        const engine = new EngineSource({ docker: { get: () => Promise.reject(systemError(code)) } });
        expect(await codeOf(engine.gather(ref))).toBe("ENGINE_UNAVAILABLE");
      },
    );

    it.each([
      [undefined, "unix:///var/run/docker.sock"],
      ["unix:///run/user/1000/docker.sock", "unix:///run/user/1000/docker.sock"],
      ["tcp://127.0.0.1:2375", "tcp://127.0.0.1:2375"],
    ])(
      "names the engine address it tried (DOCKER_HOST %s) when nothing answers",
      async (dockerHost, named) => {
        const engine = new EngineSource({
          ...(dockerHost ? { dockerHost } : {}),
          docker: { get: () => Promise.reject(systemError("ECONNREFUSED")) },
        });
        await expect(engine.gather(ref)).rejects.toMatchObject({
          code: "ENGINE_UNAVAILABLE",
          message: expect.stringContaining(named),
        });
      },
    );

    it("says SERVER_ERROR when the engine fails the inspect", async () => {
      const { engine } = source({
        answers: { [`/images/${RECORDED.ref}/json`]: { status: 500, body: { message: "boom" } } },
      });
      expect(await codeOf(engine.gather(ref))).toBe("SERVER_ERROR");
    });

    it("says BAD_RESPONSE when the inspect is not an image", async () => {
      const { engine } = source({
        answers: { [`/images/${RECORDED.ref}/json`]: { status: 200, body: ["not", "an", "image"] } },
      });
      expect(await codeOf(engine.gather(ref))).toBe("BAD_RESPONSE");
    });

    it.each([
      ["distribution-manifest-unknown", "BAD_RESPONSE"],
      ["distribution-registry-down", "SERVER_ERROR"],
    ])(
      "keeps the facts and marks the engine part incomplete when distribution inspect fails (%s)",
      async (name, code) => {
        const answer = recording().errors[name]!;
        const { engine } = source({
          answers: { [`/distribution/127.0.0.1:5999/dev/scratch@${RECORDED.digest}/json`]: answer },
        });
        const facts = await engine.gather(ref);
        expect(facts.incomplete).toEqual([expect.objectContaining({ part: "engine", code })]);
        expect(facts.platforms).toEqual([facts.platform]);
        expect(facts.mediaType).toBeUndefined();
        expect(facts.digest).toBe(RECORDED.digest);
      },
    );

    it("keeps a running container without `top` when it stopped before `top` (409)", async () => {
      const stopped = recording().responses[`/containers/${RECORDED.createdContainer}/top`]!;
      const { engine } = source({ answers: { [`/containers/${RECORDED.runningContainer}/top`]: stopped } });
      const facts = await engine.gather(ref);
      expect(
        facts.engineInfo!.containers.find((c) => c.id === RECORDED.runningContainer)?.top,
      ).toBeUndefined();
      expect(facts.incomplete).toEqual([]);
    });

    it("marks the engine part incomplete when the container list fails", async () => {
      const { engine } = source({
        answers: { "/containers/json": { status: 500, body: { message: "boom" } } },
      });
      const facts = await engine.gather(ref);
      expect(facts.engineInfo!.containers).toEqual([]);
      expect(facts.incomplete).toEqual([expect.objectContaining({ part: "engine", code: "SERVER_ERROR" })]);
    });
  });

  describe("when signatures cannot be looked up", () => {
    it("says ENGINE_NO_DIGEST for an image that was never pushed, and asks neither the registry nor distribution", async () => {
      const inspect = recording().responses[`/images/${RECORDED.ref}/json`]!;
      (inspect.body as { RepoDigests: string[] }).RepoDigests = [];
      const lookup = vi.fn<RegistryArtifactsLookup>();
      const { engine, calls } = source({ answers: { [`/images/${RECORDED.ref}/json`]: inspect } }, lookup);
      const facts = await engine.gather(ref);
      expect(lookup).not.toHaveBeenCalled();
      expect(calls.some((c) => c.path.startsWith("/distribution/"))).toBe(false);
      expect(facts.digest).toBeUndefined();
      expect(facts.signatures).toEqual([]);
      expect(facts.incomplete.map((p) => [p.part, p.code])).toEqual([
        ["signatures", "ENGINE_NO_DIGEST"],
        ["attestations", "ENGINE_NO_DIGEST"],
      ]);
    });

    it("says ENGINE_NO_REGISTRY when no registry look-up was configured", async () => {
      const facts = await source({}, null).engine.gather(ref);
      expect(facts.incomplete.map((p) => [p.part, p.code])).toEqual([
        ["signatures", "ENGINE_NO_REGISTRY"],
        ["attestations", "ENGINE_NO_REGISTRY"],
      ]);
    });

    it("keeps the registry's error code when the look-up fails", async () => {
      const lookup: RegistryArtifactsLookup = () => Promise.reject(new CodedError("UNAUTHORIZED", "no"));
      const facts = await source({}, lookup).engine.gather(ref);
      expect(facts.incomplete.map((p) => [p.part, p.code])).toEqual([
        ["signatures", "UNAUTHORIZED"],
        ["attestations", "UNAUTHORIZED"],
      ]);
    });

    it("fails the gather when the registry serves a signature that does not hash to its digest", async () => {
      const lookup: RegistryArtifactsLookup = () =>
        Promise.reject(new CodedError("DIGEST_MISMATCH", "tampered"));
      expect(await codeOf(source({}, lookup).engine.gather(ref))).toBe("DIGEST_MISMATCH");
    });

    it("adds the registry's requests to the gather's cost", async () => {
      const lookup: RegistryArtifactsLookup = async () => ({
        signatures: [],
        attestations: [],
        incomplete: [],
        stats: { requests: 3, bytes: 10, byKind: { "HEAD manifest": 2, "GET referrers": 1 } },
      });
      const facts = await source({}, lookup).engine.gather(ref);
      expect(facts.stats.requests).toBe(6 + 3);
      expect(facts.stats.byKind).toMatchObject({
        "HEAD manifest": 2,
        "GET referrers": 1,
        "engine GET image": 1,
      });
    });

    it("passes on what the registry could not look up", async () => {
      const lookup: RegistryArtifactsLookup = async () => ({
        signatures: [],
        attestations: [],
        incomplete: [{ part: "referrers", code: "SERVER_ERROR", message: "referrers: HTTP 500" }],
      });
      const facts = await source({}, lookup).engine.gather(ref);
      expect(facts.incomplete).toEqual([
        { part: "referrers", code: "SERVER_ERROR", message: "referrers: HTTP 500" },
      ]);
    });
  });

  describe("when the caller gives up", () => {
    it("says ABORTED for a signal aborted before the gather", async () => {
      const controller = new AbortController();
      controller.abort();
      expect(await codeOf(source().engine.gather(ref, { signal: controller.signal }))).toBe("ABORTED");
    });

    it("says ABORTED when the signal fires while the engine is busy", async () => {
      const controller = new AbortController();
      const { engine } = source({ answers: { [`/images/${RECORDED.id}/history`]: "hang" } });
      const gathering = engine.gather(ref, { signal: controller.signal });
      setTimeout(() => controller.abort(), 10);
      expect(await codeOf(gathering)).toBe("ABORTED");
    });

    it("says TIMEOUT when the caller's signal is a timeout", async () => {
      const { engine } = source({ answers: { [`/images/${RECORDED.ref}/json`]: "hang" } });
      expect(await codeOf(engine.gather(ref, { signal: AbortSignal.timeout(10) }))).toBe("TIMEOUT");
    });

    it("says TIMEOUT when a wedged engine does not answer within the request timeout", async () => {
      const fake = fakeEngine({ answers: { [`/images/${RECORDED.ref}/json`]: "hang" } });
      const engine = new EngineSource({ docker: fake.transport, requestTimeoutMs: 10 });
      expect(await codeOf(engine.gather(ref))).toBe("TIMEOUT");
    });

    it("aborts the gather even while distribution inspect waits for the registry", async () => {
      const controller = new AbortController();
      const { engine } = source({
        answers: { [`/distribution/127.0.0.1:5999/dev/scratch@${RECORDED.digest}/json`]: "hang" },
      });
      const gathering = engine.gather(ref, { signal: controller.signal });
      setTimeout(() => controller.abort(), 10);
      expect(await codeOf(gathering)).toBe("ABORTED");
    });
  });
});
