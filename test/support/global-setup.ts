// vitest globalSetup: brings up the testbed once per run and hands it to every test file through
// provide/inject (https://vitest.dev/config/globalsetup). The returned teardown stops everything;
// the child-process hooks in processes.ts cover the case where vitest dies before teardown.
import type { TestProject } from "vitest/node";
import { startTestbed } from "./testbed.js";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const { testbed, stop, startupMs } = await startTestbed();
  const dockerd = testbed.dockerd ? "dockerd up" : "no dockerd";
  process.stderr.write(
    `testbed: ready in ${startupMs} ms (${dockerd}, PostgreSQL at ${testbed.postgres.host}) in ${testbed.tmpDir}\n`,
  );
  project.provide("testbed", testbed);
  return stop;
}
