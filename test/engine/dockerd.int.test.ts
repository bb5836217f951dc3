// EngineSource against the testbed's real private dockerd, and parity with the registry source:
// an image built FROM scratch in dockerd (classic builder, no network) and pushed to the open
// registry must read the same through both.
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AutoSource, createSource } from "../../src/cli/sources.js";
import { loadConfig } from "../../src/config.js";
import { compareApiVersions, ENGINE_DEFAULTS, EngineSource } from "../../src/engine/index.js";
import { dockerodeTransport, type EngineTransport, parseDockerHost } from "../../src/engine/transport.js";
import type { ImageFacts, ImageSource } from "../../src/facts/model.js";
import { policySchema } from "../../src/policy/schema.js";
import { parseReference } from "../../src/reference/parse.js";
import { pushImage, randomRepo, signCosign } from "../support/image-builder.js";
import { ensureTools, freePort, TOOLS } from "../support/processes.js";
import { getTestbed, requireDockerd } from "../support/testbed.js";
import { codeOf } from "./fake-engine.js";

/** True for an ELF executable without an interpreter (PT_INTERP): it runs in an empty scratch image. */
function isStaticElf(bytes: Buffer): boolean {
  if (bytes.readUInt32BE(0) !== 0x7f454c46 || bytes[4] !== 2 || bytes[5] !== 1) return false; // ELF64, little-endian
  const phoff = Number(bytes.readBigUInt64LE(0x20));
  const phentsize = bytes.readUInt16LE(0x36);
  const phnum = bytes.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (bytes.readUInt32LE(phoff + i * phentsize) === 3) return false;
  return true;
}

/** A statically linked busybox (Debian's busybox-static; installed by the testbed's tool check when root). */
function staticBusybox(): Buffer {
  const path = ensureTools({ busybox: TOOLS.busybox }).paths.busybox;
  const bytes = readFileSync(path);
  if (!isStaticElf(bytes)) {
    throw new Error(
      `${path} is not statically linked, so it cannot run in a scratch image; run as root: apt-get install -y busybox-static`,
    );
  }
  return bytes;
}

/** A ustar archive of regular files, for the build context (kept here: the context needs an executable mode). */
function tar(files: { name: string; data: Buffer; mode: number }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const f of files) {
    const h = Buffer.alloc(512);
    const put = (text: string, offset: number, length: number) => h.write(text, offset, length, "latin1");
    const octal = (n: number, length: number) => `${n.toString(8).padStart(length - 1, "0")}\0`;
    put(f.name, 0, 100);
    put(octal(f.mode, 8), 100, 8);
    put(octal(0, 8), 108, 8);
    put(octal(0, 8), 116, 8);
    put(octal(f.data.length, 12), 124, 12);
    put(octal(0, 12), 136, 12);
    put(" ".repeat(8), 148, 8);
    put("0", 156, 1);
    put("ustar\0", 257, 6);
    put("00", 263, 2);
    put(
      `${h
        .reduce((sum, b) => sum + b, 0)
        .toString(8)
        .padStart(6, "0")}\0 `,
      148,
      8,
    );
    blocks.push(h, f.data, Buffer.alloc((512 - (f.data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

const DOCKERFILE = `FROM scratch
COPY busybox /bin/busybox
COPY hello.txt /hello.txt
USER 1000:1000
ENV APP_MODE=test GREETING="hello world"
LABEL org.opencontainers.image.source="https://example.test/repo" com.example.team=platform
EXPOSE 8080 53/udp
VOLUME /data
WORKDIR /work
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD ["/bin/busybox", "true"]
ENTRYPOINT ["/bin/busybox"]
CMD ["sleep", "3600"]
`;

/** Reads a build or push progress stream to its end; rejects on the first error line. */
async function followProgress(
  docker: Docker,
  stream: NodeJS.ReadableStream,
): Promise<Record<string, unknown>[]> {
  const output = await new Promise<Record<string, unknown>[]>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, out: Record<string, unknown>[]) =>
      err ? reject(err) : resolve(out),
    ),
  );
  const failed = output.find((line) => line.error);
  if (failed) throw new Error(`dockerd: ${String(failed.error)}`);
  return output;
}

/** Pushes `registry/repo:tag` through dockerode (plain http for a loopback registry); resolves with the pushed digest. */
async function push(docker: Docker, registryHost: string, repo: string, tag: string): Promise<string> {
  const stream = await docker
    .getImage(`${registryHost}/${repo}`)
    .push({ tag, authconfig: { serveraddress: registryHost } });
  const output = await followProgress(docker, stream);
  const digest = output
    .map((line) => (line.aux as { Digest?: unknown } | undefined)?.Digest)
    .find((d) => typeof d === "string");
  if (!digest) throw new Error(`dockerd: pushing ${registryHost}/${repo}:${tag} reported no digest`);
  return digest as string;
}

/** GET /version straight off the socket, to know what the engine speaks independently of EngineSource. */
function serverApiVersion(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: "/version" }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve((JSON.parse(Buffer.concat(chunks).toString()) as { ApiVersion: string }).ApiVersion),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

describe("EngineSource with a real dockerd", () => {
  let docker: Docker;
  let socket: string;
  let dockerHost: string;
  let registryHost: string;
  let repo: string;
  let name: string;
  let pushedDigest: string;
  let running: Docker.Container;
  let created: Docker.Container;
  let sources: (kind: "registry" | "engine" | "auto", dockerHostOverride?: string) => Promise<ImageSource>;

  beforeAll(async () => {
    ({ socket, dockerHost } = requireDockerd());
    registryHost = getTestbed().open.host;
    docker = new Docker({ socketPath: socket });
    repo = randomRepo("engine");
    name = `${registryHost}/${repo}:1`;

    const context = tar([
      { name: "Dockerfile", data: Buffer.from(DOCKERFILE), mode: 0o644 },
      { name: "busybox", data: staticBusybox(), mode: 0o755 },
      { name: "hello.txt", data: Buffer.from("hello\n"), mode: 0o644 },
    ]);
    // version "1" is the classic builder, which needs no network and no BuildKit daemon.
    await followProgress(
      docker,
      await docker.buildImage(Readable.from([context]), { t: name, version: "1", rm: true, forcerm: true }),
    );
    // dockerd treats 127.0.0.0/8 registries as insecure (plain http) by default.
    pushedDigest = await push(docker, registryHost, repo, "1");

    const noNetwork = { Image: name, HostConfig: { NetworkMode: "none" } };
    running = await docker.createContainer({ ...noNetwork, name: `ic-running-${repo.split("/")[1]}` });
    await running.start();
    created = await docker.createContainer({ ...noNetwork, name: `ic-created-${repo.split("/")[1]}` });

    const home = mkdtempSync(join(tmpdir(), "image-check-engine-"));
    const policy = policySchema.parse({
      registries: { allowPrivate: [registryHost], allowInsecure: [registryHost] },
    });
    sources = (kind, dockerHostOverride) => {
      const env = {
        HOME: home,
        DOCKER_CONFIG: join(home, ".docker"),
        DOCKER_HOST: dockerHostOverride ?? dockerHost,
      };
      return createSource(kind, { policy, config: loadConfig(env), env });
    };
  });

  afterAll(async () => {
    await Promise.allSettled([running?.remove({ force: true }), created?.remove({ force: true })]);
  });

  describe("when the FROM scratch image was pushed to the registry", () => {
    let fromEngine: ImageFacts;
    let fromRegistry: ImageFacts;

    beforeAll(async () => {
      const ref = parseReference(name);
      [fromEngine, fromRegistry] = await Promise.all([
        (await sources("engine")).gather(ref),
        (await sources("registry")).gather(ref),
      ]);
    });

    it("reads the image through both sources", () => {
      expect(fromEngine.source).toBe("engine");
      expect(fromRegistry.source).toBe("registry");
    });

    it("gives the same user, env, labels and ports (and the whole config) through both sources", () => {
      expect(fromEngine.config.user).toBe("1000:1000");
      expect(fromEngine.config.env).toEqual([
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "APP_MODE=test",
        "GREETING=hello world",
      ]);
      expect(fromEngine.config.labels).toEqual({
        "org.opencontainers.image.source": "https://example.test/repo",
        "com.example.team": "platform",
      });
      expect(fromEngine.config.exposedPorts).toEqual(["53/udp", "8080/tcp"]);
      expect(fromEngine.config).toEqual(fromRegistry.config);
    });

    it("gives the same history through both sources: createdBy texts, order and empty-layer flags", () => {
      const steps = (f: ImageFacts) =>
        f.history.map((h) => ({ createdBy: h.createdBy, emptyLayer: h.emptyLayer, comment: h.comment }));
      expect(steps(fromEngine)).toEqual(steps(fromRegistry));
      expect(fromEngine.history.filter((h) => !h.emptyLayer)).toHaveLength(fromRegistry.layers.length);
      expect(fromEngine.history.find((h) => h.createdBy.includes("WORKDIR"))?.emptyLayer).toBe(false);
    });

    it("gives each step's creation time, to the second the engine keeps", () => {
      const seconds = (iso: string | undefined) => Math.floor(Date.parse(iso ?? "") / 1000);
      expect(fromEngine.history.map((h) => seconds(h.created))).toEqual(
        fromRegistry.history.map((h) => seconds(h.created)),
      );
    });

    it("names the same digests and platform through both sources", () => {
      expect(fromEngine.digest).toBe(pushedDigest);
      expect(fromRegistry.digest).toBe(pushedDigest);
      expect(fromEngine.manifestDigest).toBe(fromRegistry.manifestDigest);
      expect(fromEngine.mediaType).toBe(fromRegistry.mediaType);
      expect(fromEngine.configDigest).toBe(fromRegistry.configDigest);
      expect(fromEngine.platform).toEqual(fromRegistry.platform);
      expect(fromEngine.platforms).toEqual(fromRegistry.platforms);
      expect(fromEngine.layers).toHaveLength(fromRegistry.layers.length);
    });

    it("lists the running container with its processes, and the created one without", () => {
      const containers = fromEngine.engineInfo!.containers;
      const up = containers.find((c) => c.id === running.id);
      expect(up?.state).toBe("running");
      const cmd = up!.top!.titles.indexOf("CMD");
      expect(up!.top!.processes.map((p) => p[cmd])).toContain("/bin/busybox sleep 3600");
      const idle = containers.find((c) => c.id === created.id);
      expect(idle?.state).toBe("created");
      expect(idle?.top).toBeUndefined();
    });

    it("is complete: distribution inspect answered and the registry was asked for signatures", () => {
      expect(fromEngine.incomplete).toEqual([]);
      expect(fromEngine.signatures).toEqual([]);
    });
  });

  describe("when the pushed image is signed in its registry", () => {
    it("finds the signature for the engine's image in the registry", async () => {
      const other = randomRepo("engine-signed");
      const signedName = `${registryHost}/${other}:1`;
      await docker.getImage(name).tag({ repo: `${registryHost}/${other}`, tag: "1" });
      const digest = await push(docker, registryHost, other, "1");
      const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const signature = await signCosign(getTestbed().open, other, digest, privateKey);

      const facts = await (await sources("engine")).gather(parseReference(signedName));
      expect(facts.source).toBe("engine");
      expect(facts.signatures.map((s) => [s.kind, s.manifestDigest, s.subjectDigest])).toEqual([
        ["cosign", signature.manifestDigest, digest],
      ]);
    });
  });

  describe("when negotiating the API version", () => {
    it("speaks the engine's own version when it is older than the newest this client knows, in every call", async () => {
      const server = await serverApiVersion(socket);
      const real = dockerodeTransport(parseDockerHost(dockerHost));
      const paths: string[] = [];
      const recording: EngineTransport = {
        get: (path, options) => {
          paths.push(path);
          return real.get(path, options);
        },
      };
      const engine = new EngineSource({ docker: recording });
      const facts = await engine.gather(parseReference(name));

      const expected =
        compareApiVersions(server, ENGINE_DEFAULTS.clientMaxApiVersion) < 0
          ? server
          : ENGINE_DEFAULTS.clientMaxApiVersion;
      expect(compareApiVersions(server, ENGINE_DEFAULTS.clientMaxApiVersion)).toBeLessThan(0); // dockerd 20.10 speaks 1.41
      expect(facts.engineInfo?.apiVersion).toBe(server);
      expect(await engine.apiVersion()).toBe(expected);
      expect(paths[0]).toBe("/version");
      expect(paths.slice(1).every((p) => p.startsWith(`/v${server}/`))).toBe(true);
    });
  });

  describe("when the image or the engine is not there", () => {
    it("says IMAGE_NOT_IN_ENGINE for an image the engine does not have", async () => {
      const engine = new EngineSource({ dockerHost });
      expect(await codeOf(engine.gather(parseReference(`${registryHost}/${randomRepo("absent")}:1`)))).toBe(
        "IMAGE_NOT_IN_ENGINE",
      );
    });

    it("says ENGINE_UNAVAILABLE for a socket nobody listens on", async () => {
      const dead = `unix://${join(mkdtempSync(join(tmpdir(), "image-check-dead-")), "docker.sock")}`;
      expect(await codeOf(new EngineSource({ dockerHost: dead }).gather(parseReference(name)))).toBe(
        "ENGINE_UNAVAILABLE",
      );
    });

    it("says ENGINE_UNAVAILABLE for a tcp port nobody listens on", async () => {
      const dead = `tcp://127.0.0.1:${await freePort()}`;
      expect(await codeOf(new EngineSource({ dockerHost: dead }).gather(parseReference(name)))).toBe(
        "ENGINE_UNAVAILABLE",
      );
    });
  });

  describe("when the source is auto", () => {
    it("answers from the engine when the image is there", async () => {
      const auto = await sources("auto");
      expect(auto).toBeInstanceOf(AutoSource);
      expect((await auto.gather(parseReference(name))).source).toBe("engine");
    });

    it("answers from the registry when the engine does not have the image", async () => {
      const onlyInRegistry = randomRepo("registry-only");
      const image = await pushImage(getTestbed().open, onlyInRegistry, { config: { User: "7" } }, "1");
      const facts = await (await sources("auto")).gather(
        parseReference(`${registryHost}/${onlyInRegistry}:1`),
      );
      expect(facts.source).toBe("registry");
      expect(facts.digest).toBe(image.digest);
    });

    it("answers from the registry when no engine answers", async () => {
      const dead = `unix://${join(mkdtempSync(join(tmpdir(), "image-check-dead-")), "docker.sock")}`;
      const facts = await (await sources("auto", dead)).gather(parseReference(name));
      expect(facts.source).toBe("registry");
      expect(facts.digest).toBe(pushedDigest);
    });
  });
});
