/**
 * Image references from the files a pipeline already has (`check --file`, `pin`). Pure: the
 * caller reads the file (capped, regular files only) and passes its text.
 *
 * | file | recognised by | references |
 * | --- | --- | --- |
 * | Dockerfile | name `Dockerfile`, `Containerfile`, `*.Dockerfile`, `Dockerfile.*`, or a first instruction FROM / ARG | `FROM`, `COPY --from=` (dockerfile.ts) |
 * | compose | YAML with a top-level `services` map | `services.*.image` (yaml.ts) |
 * | Kubernetes | YAML whose every document has `apiVersion` and `kind` | pod containers of the workload kinds (yaml.ts) |
 */
import { basename } from "node:path/posix";
import { dockerfileReferences } from "./dockerfile.js";
import { FILE_LIMITS, FileError, type FileKind, type FoundReference } from "./types.js";
import { yamlReferences } from "./yaml.js";

export { FILE_LIMITS, FileError, type FileErrorCode, type FileKind, type FoundReference } from "./types.js";

const DOCKERFILE_NAME = /^(?:(?:Dockerfile|Containerfile)(?:[.-].*)?|.*\.(?:Dockerfile|Containerfile))$/i;
const YAML_NAME = /\.ya?ml$/i;
const FIRST_INSTRUCTION = /^\s*(?:FROM|ARG)\s/i;

/** Every image reference in `text`, the contents of `file`. Throws FileError (one line naming the file). */
export function referencesIn(file: string, text: string): { kind: FileKind; references: FoundReference[] } {
  if (text.length > FILE_LIMITS.maxBytes)
    throw new FileError(
      "FILE_TOO_LARGE",
      `${file}: larger than ${FILE_LIMITS.maxBytes} bytes: not a file image-check reads`,
    );
  const name = basename(file.replaceAll("\\", "/"));
  const firstInstruction = text.split(/\r?\n/).find((l) => l.trim() !== "" && !l.trimStart().startsWith("#"));
  if (
    DOCKERFILE_NAME.test(name) ||
    (!YAML_NAME.test(name) && firstInstruction && FIRST_INSTRUCTION.test(firstInstruction))
  )
    return { kind: "dockerfile", references: dockerfileReferences(file, text) };
  const yaml = yamlReferences(file, text);
  if (yaml) return yaml;
  throw new FileError(
    "UNSUPPORTED_FILE",
    `${file}:1: not a Dockerfile, a compose file (top-level services) or Kubernetes YAML (apiVersion and kind)`,
  );
}
