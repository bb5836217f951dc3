// A re-check in the same process, proved from the wire against Debian's docker-registry 2.8: the
// blobs it already holds (config, signature) are not downloaded again, while the tags that name
// them are asked again every time, so a signature added since is seen at once and only its new
// blob is fetched.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReference } from "../../src/reference/parse.js";
import { pushImage, randomRepo, signCosign } from "../support/image-builder.js";
import { type Proxy as RecordingProxy, startProxy } from "../support/proxy.js";
import { makeKey } from "../support/signing.js";
import { getTestbed } from "../support/testbed.js";
import { lines, sourceFor } from "./helpers.js";

const testbed = getTestbed();

describe("a re-check of a signed image by the same source", () => {
  let proxy: RecordingProxy;
  let repo: string;
  let digest: string;
  const key = makeKey("ecdsa-p256");

  beforeAll(async () => {
    proxy = await startProxy(testbed.open.host);
    repo = randomRepo("blob-cache");
    ({ digest } = await pushImage(testbed.open, repo, { config: { User: "10001" } }, "v1"));
    await signCosign(testbed.open, repo, digest, key.privateKey);
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  it("fetches no blob it holds, asks the signature tag again, and reads a new signature's blob alone", async () => {
    const source = sourceFor([proxy.host]);
    const ref = parseReference(`${proxy.host}/${repo}:v1`);
    const first = await source.gather(ref);
    proxy.reset();
    const again = await source.gather(ref);
    const blobGets = () => lines(proxy.requests).filter((l) => l.includes("/blobs/"));
    expect(blobGets()).toEqual([]);
    expect(lines(proxy.requests)).toContain(`GET /v2/${repo}/manifests/sha256-${digest.slice(7)}.sig`);
    expect(again.config).toEqual(first.config);
    expect(again.signatures).toEqual(first.signatures);

    // A second signature (another payload, so another blob) appended to the same tag.
    await signCosign(testbed.open, repo, digest, key.privateKey, { dockerReference: "example.test/other" });
    proxy.reset();
    const signedTwice = await source.gather(ref);
    expect(signedTwice.signatures[0]?.blobs).toHaveLength(2);
    expect(blobGets()).toHaveLength(1);
    source.close();
  });
});
