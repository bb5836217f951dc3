import { describe, expect, it } from "vitest";
import { runAdvice } from "../../src/checks/run-advice.js";
import { cleanFacts, DIGEST } from "../support/facts.js";

const PINNED = `registry.example.com/acme/app:1.4.2@${DIGEST}`;

describe("runAdvice", () => {
  it("hardens a root image with volumes, ports and no healthcheck", () => {
    const facts = cleanFacts();
    facts.reference = {
      registry: "docker.io",
      repository: "library/nginx",
      tag: "1.27.3",
      original: "nginx:1.27.3",
    };
    facts.config.user = "";
    facts.config.exposedPorts = ["80/tcp", "53/udp"];
    facts.config.volumes = ["/var/cache/nginx", "/var/run/docker.sock"];
    facts.config.healthcheck = null;
    facts.config.env.push("API_TOKEN=abcdef0123456789");
    const advice = runAdvice(facts, `docker.io/library/nginx:1.27.3@${DIGEST}`);
    expect(advice.dockerRun).toMatchSnapshot();
    expect(advice.compose).toMatchSnapshot();
    expect(advice.notes).toMatchSnapshot();
  });

  it("keeps a non-root image's own user", () => {
    const advice = runAdvice(cleanFacts(), PINNED);
    expect(advice.dockerRun).not.toContain("--user");
    expect(advice.dockerRun).toMatchSnapshot();
  });

  it.each([
    "--read-only",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
    "--memory=",
    "--pids-limit=",
    "--tmpfs /tmp",
  ])("always includes %s", (flag) => {
    expect(runAdvice(cleanFacts(), PINNED).dockerRun).toContain(flag);
  });

  it("never mounts the Docker socket, even when the image declares it", () => {
    const facts = cleanFacts();
    facts.config.volumes = ["/var/run/docker.sock", "/run"];
    const advice = runAdvice(facts, PINNED);
    expect(advice.dockerRun).not.toContain("docker.sock");
    expect(advice.compose).not.toContain("docker.sock");
  });

  it("never carries an env value, only the file to put it in", () => {
    const facts = cleanFacts();
    facts.config.env.push("DB_PASSWORD=hunter2hunter2");
    const advice = runAdvice(facts, PINNED);
    expect(JSON.stringify(advice)).not.toContain("hunter2hunter2");
    expect(advice.dockerRun).toContain("--env-file ./app.env");
  });

  it("quotes paths the shell would split", () => {
    const facts = cleanFacts();
    facts.config.volumes = ["/data dir"];
    expect(runAdvice(facts, PINNED).dockerRun).toContain("-v 'app-data-dir:/data dir'");
  });

  describe("when the image exposes SSH", () => {
    it.each([["22/tcp"], ["22"]])("never publishes %s, and says why", (spec) => {
      const facts = cleanFacts();
      facts.config.exposedPorts = [spec, "8080/tcp"];
      const advice = runAdvice(facts, PINNED);
      expect(advice.dockerRun).not.toMatch(/:22:22/);
      expect(advice.compose).not.toMatch(/:22:22/);
      expect(advice.dockerRun).toContain("-p 127.0.0.1:8080:8080");
      expect(advice.notes.join("\n")).toContain("Port 22 (SSH) is not published");
    });
  });

  describe("when secrets are found by value as well as by name", () => {
    it("names every secret variable in the env-file advice", () => {
      const facts = cleanFacts();
      facts.config.env.push(
        "DB_PASSWORD=hunter2hunter2",
        "AWS_ACCESS_KEY_ID=AKIAQ3VZ7XJ2M5K8N4RT",
        `GH=ghp_${"x1Y2z3".repeat(6)}`,
        "DATABASE_URL=postgres://app:s3cr3t-pw@db:5432/app",
      );
      const advice = runAdvice(facts, PINNED);
      const note = advice.notes.find((n) => n.startsWith("Give "))!;
      expect(note).toContain("Give DB_PASSWORD, AWS_ACCESS_KEY_ID, GH, DATABASE_URL through ./app.env");
      expect(advice.dockerRun).toContain("--env-file ./app.env");
      expect(JSON.stringify(advice)).not.toContain("AKIAQ3VZ7XJ2M5K8N4RT");
    });
  });
});
