// An EngineTransport that replays answers recorded from a real dockerd (fixtures/), for the unit
// tests of the mapping and of EngineSource's error handling. The live tests use the testbed's dockerd.
import { readFileSync } from "node:fs";
import { compareApiVersions, EngineHttpError, type EngineTransport } from "../../src/engine/index.js";
import { CodedError } from "../../src/errors.js";

/** A recorded engine answer. */
export interface Answer {
  status: number;
  body: unknown;
}

/** The scratch image recorded from dockerd 20.10 (see `about` in the file). */
export interface Recording {
  about: string;
  responses: Record<string, Answer>;
  errors: Record<string, Answer>;
  /** The image's config blob as the registry served it after the push. */
  registryConfig: { config: unknown; history: unknown; created: string };
}

/** The recorded answers, fresh per call so a test cannot leak edits into another. */
export function recording(): Recording {
  return JSON.parse(
    readFileSync(new URL("./fixtures/scratch-image.dockerd-20.10.json", import.meta.url), "utf8"),
  );
}

/** Names and digests of the recorded image. */
export const RECORDED = {
  ref: "127.0.0.1:5999/dev/scratch:1",
  id: "sha256:6bd350ce262472f2448b246d7a6829d5da52dd1cba8fc9c343baac858aacb50b",
  digest: "sha256:602f25883e823aa6b1f0ae2bd71bb7d1a30e689037b687ec913c625d9411111e",
  runningContainer: "5e52a888d19e3f4685d1a26dab878ac41fc1bfb64177f730767f66d7ad27074f",
  createdContainer: "cf483075b23a4204a8abdfba89b9d0d061726cce1f61034b8098e05458a37fb2",
  apiVersion: "1.41",
} as const;

/** One request the fake saw. */
export interface FakeCall {
  /** The path without its `/vX.Y` prefix. */
  path: string;
  /** The API version the path asked for; undefined for unversioned paths. */
  apiVersion?: string;
  query?: Record<string, string>;
}

/** What a path answers: a recorded answer, a thrown error (a socket failure), or never (until aborted). */
export type FakeAnswer = Answer | Error | "hang";

/** Options of fakeEngine. */
export interface FakeEngineOptions {
  /** The ApiVersion the fake's /version reports; it refuses newer versions like dockerd does. */
  serverApiVersion?: string;
  minApiVersion?: string;
  /** Answers by path (without the version prefix), replacing the recorded ones. */
  answers?: Record<string, FakeAnswer>;
}

function abortError(): Error {
  return Object.assign(new Error("The operation was aborted"), { name: "AbortError", code: "ABORT_ERR" });
}

/** A transport replaying the recording, with `answers` layered on top. */
export function fakeEngine(options: FakeEngineOptions = {}): {
  transport: EngineTransport;
  calls: FakeCall[];
} {
  const rec = recording();
  const server = options.serverApiVersion ?? RECORDED.apiVersion;
  const version = rec.responses["/version"]!.body as Record<string, unknown>;
  const answers: Record<string, FakeAnswer> = {
    ...rec.responses,
    "/version": {
      status: 200,
      body: { ...version, ApiVersion: server, MinAPIVersion: options.minApiVersion ?? version.MinAPIVersion },
    },
    ...options.answers,
  };
  const calls: FakeCall[] = [];
  const transport: EngineTransport = {
    get(fullPath, { query, signal }) {
      const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(fullPath);
      const call: FakeCall = m ? { path: m[2]!, apiVersion: m[1]! } : { path: fullPath };
      if (query) call.query = query;
      calls.push(call);
      if (call.apiVersion && compareApiVersions(call.apiVersion, server) > 0) {
        const tooNew = rec.errors["api-version-too-new"]!;
        return Promise.reject(
          new EngineHttpError(tooNew.status, String((tooNew.body as { message: string }).message)),
        );
      }
      const answer = answers[call.path] ?? { status: 404, body: { message: "page not found" } };
      if (answer === "hang") {
        return new Promise((_, reject) => {
          if (signal?.aborted) reject(abortError());
          signal?.addEventListener("abort", () => reject(abortError()), { once: true });
        });
      }
      if (answer instanceof Error) return Promise.reject(answer);
      if (answer.status !== 200) {
        const message = (answer.body as { message?: string } | null)?.message ?? "";
        return Promise.reject(new EngineHttpError(answer.status, message));
      }
      return Promise.resolve(structuredClone(answer.body));
    },
  };
  return { transport, calls };
}

/** A Node system error, as a socket failure surfaces. */
export function systemError(code: string): Error {
  return Object.assign(new Error(`connect ${code} /tmp/nowhere.sock`), {
    code,
    errno: -2,
    syscall: "connect",
  });
}

/** The code a gather fails with; throws when it succeeds or fails with an uncoded error. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof CodedError) return err.code;
    throw err;
  }
  throw new Error("expected the gather to fail");
}
