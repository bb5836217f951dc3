import { describe, expect, it } from "vitest";
import { negotiateApiVersion, parseDockerHost } from "../../src/engine/index.js";
import {
  historyFacts,
  imageHistorySchema,
  imageInspectSchema,
  inferLayerSteps,
  layerFacts,
  repoDigestFor,
} from "../../src/engine/map.js";
import { parseReference } from "../../src/reference/parse.js";
import { historyFacts as registryHistoryFacts } from "../../src/registry/image-config.js";
import { RECORDED, recording } from "./fake-engine.js";

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;

describe("engine history mapping", () => {
  describe("when the classic builder made a zero-byte WORKDIR layer (recorded from dockerd 20.10)", () => {
    const rec = recording();
    const history = imageHistorySchema.parse(rec.responses[`/images/${RECORDED.id}/history`]!.body);
    const inspect = imageInspectSchema.parse(rec.responses[`/images/${RECORDED.ref}/json`]!.body);
    const { entries, stepSizes } = historyFacts(history, inspect.RootFS!.Layers!.length);

    it("gives the same steps, in the same order and with the same empty_layer flags, as the pushed config", () => {
      const fromRegistry = registryHistoryFacts(rec.registryConfig.history);
      expect(entries.map((e) => [e.createdBy, e.emptyLayer])).toEqual(
        fromRegistry.map((e) => [e.createdBy, e.emptyLayer]),
      );
    });

    it("marks the WORKDIR step, whose layer has no bytes, as a layer", () => {
      const workdir = entries.find((e) => e.createdBy.includes("WORKDIR"));
      expect(workdir?.emptyLayer).toBe(false);
    });

    it("sizes each RootFS layer by the step that added it", () => {
      expect(stepSizes).toEqual([1982256, 6, 0]);
      expect(layerFacts(inspect, stepSizes).map((l) => l.size)).toEqual([1982256, 6, 0]);
      expect(layerFacts(inspect, stepSizes).map((l) => l.digest)).toEqual(inspect.RootFS!.Layers);
    });

    it("gives each step's creation time to the second, oldest first", () => {
      expect(entries[0]!.created).toBe("2026-11-30T05:01:30.000Z");
      expect(entries.at(-1)!.created).toBe("2026-11-30T05:01:39.000Z");
    });
  });

  describe("inferLayerSteps", () => {
    const classic = (instruction: string) => `/bin/sh -c #(nop)  ${instruction}`;
    it.each([
      {
        when: "every layer has bytes",
        steps: [
          ["ADD file:abc in / ", 100],
          [classic("ENV A=1"), 0],
          ["/bin/sh -c apt-get update", 5],
        ],
        layers: 2,
        expected: [true, false, true],
      },
      {
        when: "a RUN changed nothing under the classic builder",
        steps: [
          ["ADD file:abc in / ", 100],
          ["/bin/sh -c true", 0],
          [classic('CMD ["sh"]'), 0],
        ],
        layers: 2,
        expected: [true, true, false],
      },
      {
        when: "BuildKit dropped an empty RUN below a classic zero-byte WORKDIR, the newest writer takes the layer",
        steps: [
          ["ADD file:abc in / # buildkit", 100],
          ["RUN /bin/sh -c true # buildkit", 0],
          ["/bin/sh -c #(nop) WORKDIR /app", 0],
        ],
        layers: 2,
        expected: [true, false, true],
      },
      {
        when: "BuildKit wrote the metadata steps",
        steps: [
          ["ADD file:abc in / # buildkit", 100],
          ["ENV A=1", 0],
          ["LABEL a=b", 0],
          ["USER 1000", 0],
          ["EXPOSE map[8080/tcp:{}]", 0],
        ],
        layers: 1,
        expected: [true, false, false, false, false],
      },
      {
        when: "the history has no steps at all",
        steps: [],
        layers: 3,
        expected: [],
      },
    ] as { when: string; steps: [string, number][]; layers: number; expected: boolean[] }[])(
      "when $when",
      ({ steps, layers, expected }) => {
        expect(
          inferLayerSteps(
            steps.map(([createdBy, size]) => ({ createdBy, size })),
            layers,
          ),
        ).toEqual(expected);
      },
    );
  });
});

describe("repoDigestFor", () => {
  it.each([
    { ref: "127.0.0.1:5000/team/app:1", digests: [`127.0.0.1:5000/team/app@${D1}`], expected: D1 },
    { ref: "python:3.12", digests: [`python@${D1}`], expected: D1 },
    { ref: "docker.io/library/python:3.12", digests: [`python@${D1}`], expected: D1 },
    { ref: "acme/tool:2", digests: [`acme/tool@${D2}`], expected: D2 },
    { ref: "127.0.0.1:5000/team/app:1", digests: [`127.0.0.1:6000/team/app@${D1}`], expected: undefined },
    { ref: "127.0.0.1:5000/team/app:1", digests: [`127.0.0.1:5000/team/other@${D1}`], expected: undefined },
    {
      ref: `127.0.0.1:5000/team/app@${D2}`,
      digests: [`127.0.0.1:5000/team/app@${D1}`, `127.0.0.1:5000/team/app@${D2}`],
      expected: D2,
    },
    {
      ref: "127.0.0.1:5000/team/app:1",
      digests: ["not a reference", `127.0.0.1:5000/team/app@${D1}`],
      expected: D1,
    },
    { ref: "127.0.0.1:5000/team/app:1", digests: [], expected: undefined },
  ])("finds $expected for $ref in $digests", ({ ref, digests, expected }) => {
    expect(repoDigestFor(parseReference(ref), digests)).toBe(expected);
  });
});

describe("parseDockerHost", () => {
  it.each([
    { value: undefined, expected: { kind: "unix", socketPath: "/var/run/docker.sock" } },
    { value: "", expected: { kind: "unix", socketPath: "/var/run/docker.sock" } },
    { value: "unix:///tmp/e/d.sock", expected: { kind: "unix", socketPath: "/tmp/e/d.sock" } },
    { value: "unix://", expected: { kind: "unix", socketPath: "/var/run/docker.sock" } },
    { value: "tcp://127.0.0.1:2375", expected: { kind: "tcp", host: "127.0.0.1", port: 2375 } },
    { value: "tcp://engine.internal", expected: { kind: "tcp", host: "engine.internal", port: 2375 } },
    { value: "tcp://[::1]:2380", expected: { kind: "tcp", host: "::1", port: 2380 } },
  ])("reads $value as $expected", ({ value, expected }) => {
    expect(parseDockerHost(value)).toEqual(expected);
  });

  it.each([
    "ssh://user@host",
    "npipe:////./pipe/docker_engine",
    "fd://",
    "/var/run/docker.sock",
    "tcp://host:2375/path",
  ])("refuses %s with ENGINE_UNAVAILABLE", (value) => {
    expect(() => parseDockerHost(value)).toThrow(expect.objectContaining({ code: "ENGINE_UNAVAILABLE" }));
  });
});

describe("negotiateApiVersion", () => {
  const client = { max: "1.48", min: "1.30" };
  it.each([
    { server: { apiVersion: "1.41", minApiVersion: "1.12" }, expected: "1.41" },
    { server: { apiVersion: "1.51", minApiVersion: "1.24" }, expected: "1.48" },
    { server: { apiVersion: "1.48" }, expected: "1.48" },
    { server: { apiVersion: "1.9" }, expected: "ENGINE_UNAVAILABLE" },
    { server: { apiVersion: "1.52", minApiVersion: "1.49" }, expected: "ENGINE_UNAVAILABLE" },
    { server: { apiVersion: "banana" }, expected: "BAD_RESPONSE" },
    { server: {}, expected: "BAD_RESPONSE" },
  ])("chooses $expected for an engine speaking $server", ({ server, expected }) => {
    let chosen: string;
    try {
      chosen = negotiateApiVersion(server, client);
    } catch (err) {
      chosen = (err as { code: string }).code;
    }
    expect(chosen).toBe(expected);
  });

  it("compares versions as numbers, so 1.9 is older than 1.30", () => {
    expect(negotiateApiVersion({ apiVersion: "1.30" }, { max: "1.100", min: "1.9" })).toBe("1.30");
  });
});
