import { execFile } from "node:child_process";
import { generateKeyPairSync, verify } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pingDocker } from "./dockerd.js";
import {
  attachCosignAttestation,
  attachNotation,
  attachSigstoreBundle,
  descriptorOf,
  dssePae,
  getManifest,
  MT,
  type PushedImage,
  pushBlob,
  pushImage,
  pushIndex,
  randomRepo,
  sha256,
  signCosign,
  tarGzLayer,
} from "./image-builder.js";
import { slowBody, startProxy } from "./proxy.js";
import {
  dockerCli,
  getTestbed,
  type RegistryEndpoint,
  requireDockerd,
  startRegistry,
  TOKEN_SERVICE,
  TOKEN_USER,
} from "./testbed.js";

const run = promisify(execFile);
const testbed = getTestbed();

function basic(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
}

async function tokenFor(scope: string, creds?: { username: string; password: string }): Promise<Response> {
  const url = new URL(testbed.token.tokenRealm as string);
  url.searchParams.set("service", TOKEN_SERVICE);
  url.searchParams.set("scope", scope);
  return fetch(url, { headers: creds ? { authorization: basic(creds.username, creds.password) } : {} });
}

async function issuerStats(): Promise<{ requests: number; issued: number }> {
  return (await (await fetch(`${testbed.tokenIssuerUrl}/stats`)).json()) as {
    requests: number;
    issued: number;
  };
}

async function skopeoInspect(
  ep: RegistryEndpoint,
  ref: string,
  raw = false,
): Promise<Record<string, unknown>> {
  const creds = ep.username ? ["--creds", `${ep.username}:${ep.password}`] : [];
  const args = [
    "inspect",
    "--tls-verify=false",
    ...creds,
    ...(raw ? ["--raw"] : []),
    `docker://${ep.host}/${ref}`,
  ];
  const { stdout } = await run(testbed.skopeo, args);
  return JSON.parse(stdout) as Record<string, unknown>;
}

describe("testbed", () => {
  describe("the open registry", () => {
    it("answers /v2/ with 200 and no challenge", async () => {
      const res = await fetch(`${testbed.open.url}/v2/`);
      expect(res.status).toBe(200);
      expect(res.headers.get("www-authenticate")).toBeNull();
    });
  });

  describe("the basic-auth registry", () => {
    it("challenges anonymous clients with Basic", async () => {
      const res = await fetch(`${testbed.basic.url}/v2/`);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Basic realm="/);
    });

    it("accepts alice/wonderland and refuses a wrong password", async () => {
      const ok = await fetch(`${testbed.basic.url}/v2/`, {
        headers: { authorization: basic("alice", "wonderland") },
      });
      const bad = await fetch(`${testbed.basic.url}/v2/`, {
        headers: { authorization: basic("alice", "queen") },
      });
      expect([ok.status, bad.status]).toEqual([200, 401]);
    });
  });

  describe("the token-auth registry", () => {
    it("challenges with Bearer naming the issuer's realm and service", async () => {
      const res = await fetch(`${testbed.token.url}/v2/`);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe(
        `Bearer realm="${testbed.token.tokenRealm}",service="${TOKEN_SERVICE}"`,
      );
    });

    it("accepts a token the issuer gave bob, and the issuer counts the request", async () => {
      const before = await issuerStats();
      const res = await tokenFor("registry:catalog:*", TOKEN_USER);
      const body = (await res.json()) as { token: string; expires_in: number };
      expect(body.expires_in).toBeGreaterThan(0);
      const v2 = await fetch(`${testbed.token.url}/v2/`, {
        headers: { authorization: `Bearer ${body.token}` },
      });
      expect(v2.status).toBe(200);
      expect((await issuerStats()).requests).toBe(before.requests + 1);
    });

    it("refuses bad credentials at the issuer", async () => {
      const res = await tokenFor("repository:x/y:pull", { username: "bob", password: "nope" });
      expect(res.status).toBe(401);
    });

    describe("when a client is anonymous", () => {
      let publicImage: string;
      let privateImage: string;
      beforeAll(async () => {
        publicImage = (await pushImage(testbed.token, "public/hello", {}, "v1")).digest;
        privateImage = (await pushImage(testbed.token, "private/hello", {}, "v1")).digest;
      });

      it("may pull repositories under public/", async () => {
        const { token } = (await (await tokenFor("repository:public/hello:pull")).json()) as {
          token: string;
        };
        const res = await fetch(`${testbed.token.url}/v2/public/hello/manifests/v1`, {
          headers: { authorization: `Bearer ${token}`, accept: MT.ociManifest },
        });
        expect(res.status).toBe(200);
        expect(res.headers.get("docker-content-digest")).toBe(publicImage);
      });

      it("may not pull other repositories", async () => {
        const { token } = (await (await tokenFor("repository:private/hello:pull")).json()) as {
          token: string;
        };
        const res = await fetch(`${testbed.token.url}/v2/private/hello/manifests/${privateImage}`, {
          headers: { authorization: `Bearer ${token}`, accept: MT.ociManifest },
        });
        expect(res.status).toBe(401);
      });
    });
  });

  describe("pushImage", () => {
    it("pushes an image whose digest skopeo reads back", async () => {
      const repo = randomRepo("builder");
      const image = await pushImage(
        testbed.open,
        repo,
        {
          config: {
            User: "1000",
            Labels: { "org.opencontainers.image.source": "https://example.invalid/x" },
          },
        },
        "v1",
      );
      const inspected = await skopeoInspect(testbed.open, `${repo}:v1`);
      expect(inspected.Digest).toBe(image.digest);
      expect(inspected.Labels).toEqual({ "org.opencontainers.image.source": "https://example.invalid/x" });
    });

    it("pushes docker media types through basic auth", async () => {
      const repo = randomRepo("builder");
      const image = await pushImage(
        testbed.basic,
        repo,
        { mediaTypes: "docker", layers: [{ size: 1000 }] },
        "d1",
      );
      const raw = await skopeoInspect(testbed.basic, `${repo}:d1`, true);
      expect(raw.mediaType).toBe(MT.dockerManifest);
      expect(image.layers[0]?.size).toBe(1000);
    });

    it("pushes through token auth with bob's credentials", async () => {
      const repo = randomRepo("builder");
      const layer = tarGzLayer({ "usr/bin/python3": "#!fake\n" });
      const image = await pushImage(testbed.token, repo, { layers: [layer] }, "t1");
      expect((await skopeoInspect(testbed.token, `${repo}:t1`)).Digest).toBe(image.digest);
      expect(image.layers[0]?.digest).toBe(sha256(layer));
    });
  });

  describe("pushIndex", () => {
    it("lists each image and a BuildKit attestation manifest per image", async () => {
      const repo = randomRepo("index");
      const pushed = await pushIndex(
        testbed.open,
        repo,
        {
          images: [
            { spec: {}, platform: { os: "linux", architecture: "amd64" } },
            { spec: {}, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
          ],
          attestations: true,
        },
        "multi",
      );
      const index = JSON.parse(pushed.manifestBytes.toString("utf8"));
      const [amd, arm] = pushed.images;
      expect(
        index.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture),
      ).toEqual(["amd64", "unknown", "arm64", "unknown"]);
      expect(index.manifests[1].annotations).toEqual({
        "vnd.docker.reference.digest": amd?.digest,
        "vnd.docker.reference.type": "attestation-manifest",
      });
      expect(index.manifests[3].annotations["vnd.docker.reference.digest"]).toBe(arm?.digest);

      const att = pushed.attestationManifests[0];
      const types = att?.manifest.layers.map(
        (l: { annotations: Record<string, string> }) => l.annotations["in-toto.io/predicate-type"],
      );
      expect(types).toEqual(["https://slsa.dev/provenance/v1", "https://spdx.dev/Document"]);
      const provenance = await fetch(
        `${testbed.open.url}/v2/${repo}/blobs/${att?.manifest.layers[0].digest}`,
      );
      const statement = (await provenance.json()) as { subject: { digest: { sha256: string } }[] };
      expect(`sha256:${statement.subject[0]?.digest.sha256}`).toBe(amd?.digest);
      expect((await getManifest(testbed.open, repo, "multi"))?.digest).toBe(pushed.digest);
    });
  });

  describe("pushIndex with docker media types", () => {
    it("pushes a manifest list skopeo reads back", async () => {
      const repo = randomRepo("index");
      const pushed = await pushIndex(
        testbed.open,
        repo,
        {
          mediaTypes: "docker",
          images: [{ spec: {}, platform: { os: "linux", architecture: "arm", variant: "v7" } }],
        },
        "list",
      );
      const raw = await skopeoInspect(testbed.open, `${repo}:list`, true);
      expect(raw.mediaType).toBe(MT.dockerList);
      expect(raw.manifests).toEqual([
        {
          ...descriptorOf(pushed.images[0] as PushedImage),
          platform: { os: "linux", architecture: "arm", variant: "v7" },
        },
      ]);
    });
  });

  describe("signCosign", () => {
    it("creates the sha256-<hex>.sig tag with a signature that verifies", async () => {
      const repo = randomRepo("cosign");
      const image = await pushImage(testbed.open, repo, {}, "v1");
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      await signCosign(testbed.open, repo, image.digest, privateKey);
      const sig = await getManifest(testbed.open, repo, `${image.digest.replace(":", "-")}.sig`);
      const layer = JSON.parse(sig?.bytes.toString("utf8") ?? "{}").layers[0];
      expect(layer.mediaType).toBe(MT.cosignSimpleSigning);
      const payload = Buffer.from(
        await (await fetch(`${testbed.open.url}/v2/${repo}/blobs/${layer.digest}`)).arrayBuffer(),
      );
      expect(JSON.parse(payload.toString("utf8")).critical.image["docker-manifest-digest"]).toBe(
        image.digest,
      );
      const signature = Buffer.from(layer.annotations["dev.cosignproject.cosign/signature"], "base64");
      expect(verify("sha256", payload, publicKey, signature)).toBe(true);
    });
  });

  describe("attachCosignAttestation", () => {
    it("creates the sha256-<hex>.att tag holding a DSSE envelope signed over its PAE", async () => {
      const repo = randomRepo("cosign");
      const image = await pushImage(testbed.open, repo, {}, "v1");
      const { privateKey, publicKey } = generateKeyPairSync("ed25519");
      const statement = {
        _type: "https://in-toto.io/Statement/v1",
        predicateType: "https://slsa.dev/provenance/v1",
      };
      const { envelope } = await attachCosignAttestation(
        testbed.open,
        repo,
        image.digest,
        statement,
        privateKey,
      );
      const att = await getManifest(testbed.open, repo, `${image.digest.replace(":", "-")}.att`);
      const layer = JSON.parse(att?.bytes.toString("utf8") ?? "{}").layers[0];
      expect([layer.mediaType, layer.annotations.predicateType, layer.digest]).toEqual([
        MT.dsse,
        "https://slsa.dev/provenance/v1",
        sha256(envelope),
      ]);
      const dsse = JSON.parse(envelope.toString("utf8"));
      const pae = dssePae(dsse.payloadType, Buffer.from(dsse.payload, "base64"));
      expect(verify(null, pae, publicKey, Buffer.from(dsse.signatures[0].sig, "base64"))).toBe(true);
    });
  });

  describe("attachSigstoreBundle", () => {
    it("pushes the referrer and lists it in the sha256-<hex> fallback index, appending", async () => {
      const repo = randomRepo("referrers");
      const image = await pushImage(testbed.open, repo, {}, "v1");
      const statement = {
        _type: "https://in-toto.io/Statement/v1",
        predicateType: "https://slsa.dev/provenance/v1",
      };
      const bundle = {
        mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
        dsseEnvelope: {
          payloadType: MT.inToto,
          payload: Buffer.from(JSON.stringify(statement)).toString("base64"),
        },
      };
      const first = await attachSigstoreBundle(testbed.open, repo, descriptorOf(image), bundle);
      const second = await attachNotation(
        testbed.open,
        repo,
        descriptorOf(image),
        Buffer.from('{"payload":""}'),
      );
      const fallback = await getManifest(testbed.open, repo, image.digest.replace(":", "-"));
      const index = JSON.parse(fallback?.bytes.toString("utf8") ?? "{}");
      expect(
        index.manifests.map((m: { digest: string; artifactType: string }) => [m.digest, m.artifactType]),
      ).toEqual([
        [first.manifestDigest, MT.sigstoreBundle],
        [second.manifestDigest, MT.notarySignature],
      ]);
      const referrer = JSON.parse(
        (await getManifest(testbed.open, repo, first.manifestDigest))?.bytes.toString() ?? "{}",
      );
      expect(referrer.subject.digest).toBe(image.digest);
      expect(referrer.annotations["dev.sigstore.bundle.predicateType"]).toBe(
        "https://slsa.dev/provenance/v1",
      );
    });
  });

  describe("the recording proxy", () => {
    it("records what a client did and can answer or tamper by itself", async () => {
      const repo = randomRepo("proxy");
      const image = await pushImage(testbed.open, repo, {}, "v1");
      const proxy = await startProxy(testbed.open.host, {
        respond: (req) =>
          req.path.endsWith("/tags/list") ? { status: 429, headers: { "retry-after": "1" } } : undefined,
        tamper: (req) => (req.path.includes("/blobs/") ? Buffer.from("tampered") : undefined),
      });
      try {
        const viaProxy: RegistryEndpoint = { host: proxy.host, url: proxy.url, auth: "none" };
        await pushBlob(viaProxy, repo, Buffer.from("through the proxy"));
        const manifest = await fetch(`${proxy.url}/v2/${repo}/manifests/v1`, {
          headers: { accept: MT.ociManifest },
        });
        const blob = await fetch(`${proxy.url}/v2/${repo}/blobs/${image.configDigest}`);
        const tags = await fetch(`${proxy.url}/v2/${repo}/tags/list`);
        expect([manifest.status, await blob.text(), tags.status]).toEqual([200, "tampered", 429]);
        expect(proxy.requests.map((r) => `${r.method} ${r.status}`)).toEqual([
          "HEAD 404",
          "POST 202",
          "PUT 201",
          "GET 200",
          "GET 200",
          "GET 429",
        ]);
        proxy.reset();
        expect(proxy.requests).toEqual([]);
      } finally {
        await proxy.stop();
      }
    });

    it("streams a large self-made body and delays answers when asked", async () => {
      const delayed: string[] = [];
      const proxy = await startProxy(testbed.open.host, {
        delayMs: (req) => {
          delayed.push(req.path);
          return req.path === "/v2/" ? 20 : 0;
        },
        respond: (req) =>
          req.path.includes("/manifests/")
            ? {
                status: 200,
                headers: { "content-type": MT.ociManifest },
                body: slowBody(3 * 1024 * 1024, { everyMs: 1 }),
              }
            : undefined,
      });
      try {
        const v2 = await fetch(`${proxy.url}/v2/`);
        const big = await fetch(`${proxy.url}/v2/any/manifests/latest`);
        expect([v2.status, (await big.arrayBuffer()).byteLength]).toEqual([200, 3 * 1024 * 1024]);
        expect(delayed).toEqual(["/v2/", "/v2/any/manifests/latest"]);
      } finally {
        await proxy.stop();
      }
    });
  });

  describe("startRegistry", () => {
    it("starts a private basic-auth registry for one test file and stops it", async () => {
      const extra = await startRegistry({ auth: "basic" });
      const image = await pushImage(extra.endpoint, "private/one", {}, "v1");
      expect((await getManifest(extra.endpoint, "private/one", "v1"))?.digest).toBe(image.digest);
      await extra.stop();
      await expect(fetch(`${extra.endpoint.url}/v2/`)).rejects.toThrow();
    });

    it("starts a private token registry with its own issuer and token lifetime", async () => {
      const extra = await startRegistry({ auth: "token", tokenExpiresIn: 42 });
      try {
        const image = await pushImage(extra.endpoint, "private/two", {}, "v1");
        expect((await getManifest(extra.endpoint, "private/two", "v1"))?.digest).toBe(image.digest);
        const url = new URL(extra.endpoint.tokenRealm as string);
        url.searchParams.set("scope", "repository:private/two:pull");
        const res = await fetch(url, {
          headers: { authorization: basic(TOKEN_USER.username, TOKEN_USER.password) },
        });
        expect(((await res.json()) as { expires_in: number }).expires_in).toBe(42);
        const stats = (await (await fetch(`${extra.tokenIssuerUrl}/stats`)).json()) as { issued: number };
        expect(stats.issued).toBeGreaterThanOrEqual(2);
      } finally {
        await extra.stop();
      }
    });
  });

  describe("the private dockerd", () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(testbed.tmpDir, "build-"));
    });
    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it("answers /_ping", async () => {
      expect(await pingDocker(requireDockerd().socket)).toBe(true);
    });

    it("builds a FROM scratch image offline", async () => {
      const { dockerHost } = requireDockerd();
      const docker = dockerCli();
      if (docker === null)
        throw new Error("testbed: the docker CLI is missing; apt-get install -y docker.io");
      writeFileSync(
        join(dir, "Dockerfile"),
        'FROM scratch\nCOPY hello.txt /hello.txt\nLABEL org.opencontainers.image.title="hello"\n',
      );
      writeFileSync(join(dir, "hello.txt"), "hello\n");
      const env = { ...process.env, DOCKER_HOST: dockerHost, DOCKER_CONFIG: join(dir, ".docker") };
      const hasBuildx = await run(docker, ["buildx", "version"], { env }).then(
        () => true,
        () => false,
      );
      const buildEnv = hasBuildx ? env : { ...env, DOCKER_BUILDKIT: "0" };
      await run(docker, ["build", "-q", "-t", "testbed-hello:1", dir], { env: buildEnv });
      const { stdout } = await run(
        docker,
        ["image", "inspect", "--format", "{{json .Config.Labels}}", "testbed-hello:1"],
        { env },
      );
      expect(JSON.parse(stdout)).toEqual({ "org.opencontainers.image.title": "hello" });
    });

    it("pulls an image the builder pushed to the open registry (loopback registries are insecure-allowed)", async () => {
      const { dockerHost } = requireDockerd();
      const docker = dockerCli();
      if (docker === null)
        throw new Error("testbed: the docker CLI is missing; apt-get install -y docker.io");
      const repo = randomRepo("pull");
      const image = await pushImage(testbed.open, repo, { config: { User: "65534", Cmd: ["/hello"] } }, "v1");
      const env = { ...process.env, DOCKER_HOST: dockerHost, DOCKER_CONFIG: join(dir, ".docker") };
      await run(docker, ["pull", "-q", `${testbed.open.host}/${repo}:v1`], { env });
      const { stdout } = await run(
        docker,
        ["image", "inspect", "--format", "{{json .RepoDigests}}", `${testbed.open.host}/${repo}:v1`],
        {
          env,
        },
      );
      expect(JSON.parse(stdout)).toEqual([`${testbed.open.host}/${repo}@${image.digest}`]);
    });
  });
});
