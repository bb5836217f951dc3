/**
 * `image-check pin FILE... [--write]` (the README's "Commands"): resolve every tag reference in
 * those files (the formats of `check --file`) to its digest through the same registry client as
 * `check`, and print a unified diff, or with --write rewrite the files. Only the reference's own
 * characters change (`name:tag` becomes `name:tag@sha256:...`); comments, ARG lines and the rest
 * of each line stay as they are, so a second run changes nothing. A multi-arch image is pinned to
 * its index digest, so every platform still pulls. A reference already pinned whose tag now points
 * elsewhere is reported (`tag.digest-conflict`), never rewritten: a reviewer decides.
 *
 * Every file is read and parsed before anything is fetched, and every tag resolved before
 * anything is written; a file is replaced through a temporary file and a rename, so an
 * interrupted run leaves each file whole, old or new.
 */
import { randomUUID } from "node:crypto";
import { rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { loadConfig } from "../config.js";
import { oneLine } from "../errors.js";
import type { FoundReference } from "../files/index.js";
import { applyEdits, type PinPlan, planPin, unifiedDiff } from "../files/pin.js";
import { effectiveTag, formatReference, parseReference } from "../reference/parse.js";
import { type Command, EXIT, parseArgs, UsageError } from "./args.js";
import { readInputFile } from "./read-files.js";

/** The command's --help text (main prints it for --help or -h). */
export const HELP = `Usage: image-check pin FILE [FILE...] [--write]

Pin every image reference in Dockerfiles, compose files and Kubernetes YAML to the digest its tag
resolves to now: name:tag becomes name:tag@sha256:... and nothing else on the line changes. A
multi-arch image is pinned to its index digest. Prints a unified diff; --write rewrites the files.

Options:
  --write                rewrite the files in place (through a temporary file and a rename)
  --policy FILE          policy file (YAML or JSON): which private or plain-http registries may be asked
  --debug                print stack traces on errors
  -h, --help             show this help

A reference already pinned whose tag now resolves elsewhere is reported (tag.digest-conflict) and
left as it is. A reference put together from several variables is reported and left as it is.
Exit codes: 0 done (or nothing to do), 1 a digest conflict needs a reviewer, 3 a tag could not be
resolved (nothing is written), 64 usage error or a file that cannot be read (nothing is written).
`;

const FLAGS = {
  write: { type: "boolean" },
  policy: { type: "string" },
} as const;

/** The `pin` command. */
export const pinCommand: Command = async (argv, io) => {
  const { flags, positionals: files } = parseArgs("pin", argv, FLAGS);
  if (files.length === 0) throw new UsageError("missing file (usage: image-check pin FILE... [--write])");

  const { referencesIn } = await import("../files/index.js");
  const texts = new Map<string, string>();
  const found: FoundReference[] = [];
  for (const file of files) {
    try {
      const text = await readInputFile(file, io.cwd);
      texts.set(file, text);
      found.push(...referencesIn(file, text).references);
    } catch (err) {
      throw new UsageError(oneLine(err));
    }
  }

  const config = loadConfig(io.env);
  const { loadPolicy } = await import("./load-policy.js");
  const { policy } = await loadPolicy(flags.policy as string | undefined, io.env, io.cwd).catch(
    (err: unknown) => {
      throw new UsageError(oneLine(err));
    },
  );
  const { registrySourceFromPolicy } = await import("../registry/index.js");
  const registry = registrySourceFromPolicy(policy, { dockerConfigDir: config.dockerConfigDir, env: io.env });

  // Each tag is resolved once, however many places name it.
  const tagKey = (reference: string) => {
    const ref = parseReference(reference);
    const tag = effectiveTag(ref);
    return tag ? formatReference({ ...ref, tag, digest: undefined }) : null;
  };
  const resolved = new Map<string, Promise<string>>();
  for (const f of found) {
    const key = tagKey(f.reference);
    if (key && !resolved.has(key))
      resolved.set(
        key,
        registry.resolveTag(parseReference(key)).then((r) => r.digest),
      );
  }
  const failures: string[] = [];
  const digests = new Map<string, string>();
  await Promise.all(
    [...resolved].map(([key, p]) =>
      p.then(
        (digest) => digests.set(key, digest),
        (err: unknown) => failures.push(`image-check pin: ${key}: ${oneLine(err)}`),
      ),
    ),
  );
  registry.close();
  if (failures.length > 0) {
    io.stderr(`${failures.join("\n")}\nimage-check pin: nothing was written\n`);
    return EXIT.couldNotCheck;
  }

  const plans: PinPlan[] = found.map((f) => {
    const key = tagKey(f.reference);
    return planPin(f, key ? digests.get(key) : undefined);
  });
  let conflicts = 0;
  for (const p of plans) {
    if (p.kind === "conflict") {
      conflicts++;
      io.stderr(
        `${p.at.file}:${p.at.line}: tag.digest-conflict: ${p.at.reference} is pinned to ${p.pinned}, but its tag now resolves to ${p.tagDigest}; left as it is for a reviewer\n`,
      );
    } else if (p.kind === "not-literal")
      io.stderr(`${p.at.file}:${p.at.line}: ${p.at.reference} is put together from variables; not pinned\n`);
  }

  const changed: { file: string; before: string; after: string }[] = [];
  for (const [file, before] of texts) {
    const edits = plans.flatMap((p) => (p.kind === "pin" && p.at.file === file ? [p.edit] : []));
    if (edits.length === 0) continue;
    const after = applyEdits(before, edits);
    if (after !== before) changed.push({ file, before, after });
  }

  if (flags.write) {
    for (const c of changed) await replaceFile(resolve(io.cwd, c.file), c.after);
    for (const c of changed) io.stderr(`pinned ${c.file}\n`);
  } else {
    io.stdout(changed.map((c) => unifiedDiff(c.file, c.before, c.after)).join(""));
  }
  return conflicts > 0 ? EXIT.review : EXIT.pass;
};

/** Replace `path` with `text` through a temporary file in the same folder and a rename (atomic on POSIX). */
async function replaceFile(path: string, text: string): Promise<void> {
  const { mode } = await stat(path);
  const temp = join(dirname(path), `.${basename(path)}.image-check-${randomUUID()}.tmp`);
  try {
    await writeFile(temp, text, { mode: mode & 0o7777, flag: "wx" });
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
