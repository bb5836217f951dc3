import { describe, expect, it } from "vitest";
import { contentsChecks } from "../../src/checks/contents.js";
import type { ImageFacts } from "../../src/facts/model.js";
import { cleanContext, cleanFacts, cleanTrust } from "../support/facts.js";

function runtimes(
  change: (f: ImageFacts) => void,
  sbom: string[] = [],
): Record<string, string[]> | undefined {
  const facts = cleanFacts();
  change(facts);
  const trust = cleanTrust();
  trust.attestations[1]!.runtimes = sbom;
  const [f] = contentsChecks(facts, { ...cleanContext(), trust });
  return f?.evidence.runtimes as Record<string, string[]> | undefined;
}

describe("contents.runtimes", () => {
  it("does not fire for a static image without a shell", () => {
    expect(runtimes(() => {})).toBeUndefined();
  });

  it.each([
    ["PYTHON_VERSION=3.12.4", "python"],
    ["NODE_VERSION=20.15.0", "node"],
    ["JAVA_HOME=/opt/java/openjdk", "java"],
    ["RUBY_VERSION=3.3.1", "ruby"],
    ["PHP_VERSION=8.3.8", "php"],
    ["PERL5LIB=/usr/local/lib/perl5", "perl"],
  ])("finds %s in the env as %s", (env, runtime) => {
    expect(runtimes((f) => f.config.env.push(env))).toEqual({ [runtime]: [`env ${env.split("=")[0]}`] });
  });

  it("finds interpreters installed by history, and the shell RUN used", () => {
    const found = runtimes((f) => {
      f.history.push({
        createdBy: "RUN /bin/sh -c apk add --no-cache python3=3.12.3-r1 nodejs openjdk17-jre perl # buildkit",
        emptyLayer: false,
      });
    });
    expect(Object.keys(found ?? {}).sort()).toEqual(["java", "node", "perl", "python", "shell"]);
    expect(found?.python).toEqual([`history step 10 apk python3=3.12.3-r1`]);
  });

  it("finds the entrypoint's interpreter", () => {
    expect(runtimes((f) => (f.config.entrypoint = ["/usr/local/bin/python3", "app.py"]))).toEqual({
      python: ["entrypoint /usr/local/bin/python3"],
    });
  });

  it("finds runtimes an SBOM lists", () => {
    expect(runtimes(() => {}, ["ruby", "libc"])).toEqual({ ruby: ["SBOM https://spdx.dev/Document (ruby)"] });
  });

  it("is info", () => {
    const facts = cleanFacts();
    facts.config.env.push("NODE_VERSION=20");
    expect(contentsChecks(facts, cleanContext())[0]!.severity).toBe("info");
  });
});
