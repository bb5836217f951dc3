import { describe, expect, it, vi } from "vitest";
import { AutoSource, createSource } from "../../src/cli/sources.js";
import { loadConfig } from "../../src/config.js";
import { CodedError } from "../../src/errors.js";
import type { ImageFacts, ImageSource } from "../../src/facts/model.js";
import { policySchema } from "../../src/policy/schema.js";
import { parseReference } from "../../src/reference/parse.js";
import { RegistrySource } from "../../src/registry/index.js";

// Counts imports of the engine module, to prove `--source registry` never loads dockerode.
const engineImports = vi.hoisted(() => ({ count: 0 }));
vi.mock("../../src/engine/index.js", async (importOriginal) => {
  engineImports.count++;
  return importOriginal();
});

const ref = parseReference("127.0.0.1:5000/team/app:1");

/** A source that answers with facts naming itself, or fails with `code`. */
function stub(kind: "engine" | "registry", code?: string): ImageSource & { calls: number } {
  const s = {
    kind,
    calls: 0,
    async gather(): Promise<ImageFacts> {
      s.calls++;
      if (code) throw new CodedError(code, `${kind} failed with ${code}`);
      return { source: kind } as ImageFacts;
    },
  };
  return s;
}

describe("AutoSource", () => {
  it("answers from the engine when the engine has the image", async () => {
    const registry = stub("registry");
    const facts = await new AutoSource(stub("engine"), registry).gather(ref);
    expect(facts.source).toBe("engine");
    expect(registry.calls).toBe(0);
  });

  it.each(["IMAGE_NOT_IN_ENGINE", "ENGINE_UNAVAILABLE"])(
    "asks the registry when the engine fails with %s",
    async (code) => {
      const facts = await new AutoSource(stub("engine", code), stub("registry")).gather(ref);
      expect(facts.source).toBe("registry");
    },
  );

  it.each(["TIMEOUT", "ABORTED", "BAD_RESPONSE", "SERVER_ERROR", "DIGEST_MISMATCH"])(
    "reports %s from the engine instead of hiding it behind the registry",
    async (code) => {
      const registry = stub("registry");
      await expect(new AutoSource(stub("engine", code), registry).gather(ref)).rejects.toMatchObject({
        code,
      });
      expect(registry.calls).toBe(0);
    },
  );

  it("passes the registry's own failure on", async () => {
    const auto = new AutoSource(stub("engine", "IMAGE_NOT_IN_ENGINE"), stub("registry", "NAME_UNKNOWN"));
    await expect(auto.gather(ref)).rejects.toMatchObject({ code: "NAME_UNKNOWN" });
  });
});

describe("createSource", () => {
  const env = { HOME: "/nonexistent-home", DOCKER_HOST: "unix:///nonexistent/docker.sock" };
  const deps = { policy: policySchema.parse({}), config: loadConfig(env), env };

  it("builds the registry source without loading the engine module", async () => {
    const source = await createSource("registry", deps);
    expect(source).toBeInstanceOf(RegistrySource);
    expect(engineImports.count).toBe(0);
  });

  it("builds the engine source from DOCKER_HOST", async () => {
    const source = await createSource("engine", deps);
    expect(source.kind).toBe("engine");
    expect(engineImports.count).toBe(1);
    await expect(source.gather(ref)).rejects.toMatchObject({ code: "ENGINE_UNAVAILABLE" });
  });

  it("builds the auto source", async () => {
    expect(await createSource("auto", deps)).toBeInstanceOf(AutoSource);
  });
});
