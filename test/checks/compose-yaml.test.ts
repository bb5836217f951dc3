import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { composeYaml } from "../../src/checks/run-advice.js";

describe("composeYaml", () => {
  it.each([
    ["plain values", { image: "nginx:1.27@sha256:abc", read_only: true, pids_limit: 256 }],
    ["a uid:gid that YAML 1.1 would read as base 60", { user: "65534:65534" }],
    [
      "hostile volume paths",
      { volumes: ['a-"x":/"q"', "b:/line\nbreak", "c:/\u001b[31mred", "d:/ü/✓", "e:/#x: y"] },
    ],
    ["empty lists and maps", { tmpfs: [], named: {} }],
    ["an odd key", { services: { "we ird: key": { image: "x:1" } } }],
  ])("writes %s as YAML that reads back the same", (_what, value) => {
    expect(parse(composeYaml(value as Record<string, unknown>))).toEqual(value);
  });
});
