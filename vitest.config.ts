import { defineConfig } from "vitest/config";

/**
 * Two projects (https://vitest.dev/guide/projects):
 * - `unit`: pure code, fakes and SQLite files; no registry, no dockerd, no PostgreSQL. Seconds.
 * - `integration`: needs the testbed that test/support/global-setup.ts brings up (three
 *   docker-registry instances, a private dockerd, skopeo, PostgreSQL).
 * A test file belongs to `integration` when it is named `*.int.test.ts`. A unit test that asks for the
 * testbed fails with a message that says so (getTestbed in test/support/testbed.ts).
 */
const integration = ["test/**/*.int.test.ts"];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: "forks",
    reporters: ["default", "./test/support/summary-reporter.ts"],
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["test/**/*.test.ts"], exclude: integration },
      },
      {
        extends: true,
        test: { name: "integration", include: integration, globalSetup: ["test/support/global-setup.ts"] },
      },
    ],
  },
});
