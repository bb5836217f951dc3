/**
 * Image references of compose files (`services.*.image`,
 * https://docs.docker.com/reference/compose-file/services/#image) and Kubernetes manifests (the
 * `containers`, `initContainers` and `ephemeralContainers` of Pods and of the pod templates of
 * Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs and CronJobs; many documents per file).
 * Parsed by the `yaml` package with positions kept, aliases capped. Pure: the caller reads the file.
 */
import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
  type YAMLMap,
} from "yaml";
import { oneLine } from "../errors.js";
import { parseReference } from "../reference/parse.js";
import { FILE_LIMITS, FileError, type FileKind, type FoundReference } from "./types.js";
import { expand, UndefinedVariable } from "./variables.js";

/** Where the pod spec sits in each workload kind. */
const POD_SPEC_PATHS: Record<string, string[]> = {
  Pod: ["spec"],
  Deployment: ["spec", "template", "spec"],
  ReplicaSet: ["spec", "template", "spec"],
  ReplicationController: ["spec", "template", "spec"],
  StatefulSet: ["spec", "template", "spec"],
  DaemonSet: ["spec", "template", "spec"],
  Job: ["spec", "template", "spec"],
  CronJob: ["spec", "jobTemplate", "spec", "template", "spec"],
};
const CONTAINER_LISTS = ["initContainers", "containers", "ephemeralContainers"];

/** A parsed YAML file: its documents, and the line of an offset. */
interface Parsed {
  docs: Document[];
  line: (offset: number) => number;
}

/** Parse every document of `text`; a syntax error or an alias bomb is a FileError naming the line. */
function parseYaml(file: string, text: string): Parsed {
  const counter = new LineCounter();
  const line = (offset: number) => counter.linePos(offset).line;
  const docs = parseAllDocuments(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: false });
  const list = Array.isArray(docs) ? docs : [];
  for (const doc of list) {
    const err = doc.errors[0];
    if (err) throw new FileError("INVALID_YAML", `${file}:${line(err.pos[0])}: not valid YAML (${err.code})`);
    try {
      // Expanding every alias once, capped, refuses "billion laughs" files before anything walks them.
      doc.toJS({ maxAliasCount: FILE_LIMITS.maxAliasCount });
    } catch (err) {
      const at = (doc.contents?.range?.[0] ?? 0) as number;
      throw new FileError(
        "INVALID_YAML",
        `${file}:${line(at)}: refused: ${oneLine(err).replace(/\.$/, "")} (at most ${FILE_LIMITS.maxAliasCount} aliases are expanded)`,
      );
    }
  }
  return { docs: list, line };
}

function resolved(doc: Document, node: unknown): Node | null {
  if (isAlias(node)) return (node.resolve(doc) as Node | undefined) ?? null;
  return (node as Node | null) ?? null;
}

/** The value of `key` in `map` as written: an alias stays an alias (its own line is where it is used). */
function getWritten(doc: Document, map: unknown, key: string): Node | null {
  const m = resolved(doc, map);
  if (!isMap(m)) return null;
  const pair = (m as YAMLMap).items.find((p) => isScalar(p.key) && p.key.value === key);
  return (pair?.value as Node | undefined) ?? null;
}

function get(doc: Document, map: unknown, key: string): Node | null {
  return resolved(doc, getWritten(doc, map, key));
}

function getPath(doc: Document, node: unknown, path: string[]): Node | null {
  let at: Node | null = resolved(doc, node);
  for (const key of path) at = get(doc, at, key);
  return at;
}

/** Whether `text` is a compose file or Kubernetes YAML, or null when it is neither. */
export function yamlKind(file: string, text: string): { kind: FileKind; parsed: Parsed } | null {
  const parsed = parseYaml(file, text);
  const docs = parsed.docs.filter((d) => d.contents !== null);
  if (docs.length === 0) return null;
  if (docs.length === 1 && isMap(get(docs[0]!, docs[0]!.contents, "services")))
    return { kind: "compose", parsed };
  if (docs.every((d) => isScalar(get(d, d.contents, "apiVersion")) && isScalar(get(d, d.contents, "kind"))))
    return { kind: "kubernetes", parsed };
  return null;
}

function found(
  doc: Document,
  file: string,
  text: string,
  parsed: Parsed,
  written: Node,
  compose: boolean,
): FoundReference | null {
  const node = resolved(doc, written);
  if (!isScalar(node) || typeof node.value !== "string" || !node.range || !written.range) return null;
  const value = node.value;
  const [start, end] = node.range;
  // The line where the image is used; an alias's value is written (and pinned) at its anchor.
  const line = parsed.line(written.range[0]);
  // The value as written, when it is written as it reads (plain or simply quoted).
  const at = text.slice(start, end).indexOf(value);
  const offset = at === -1 ? undefined : start + at;
  let reference = value;
  let literalOffset = offset;
  if (compose) {
    try {
      const e = expand(value, offset, () => undefined, true);
      reference = e.value;
      literalOffset = e.literalOffset;
    } catch (err) {
      if (err instanceof UndefinedVariable)
        throw new FileError(
          "UNDEFINED_VARIABLE",
          `${file}:${line}: ${err.message} (image-check reads no environment: give it a default, \${${err.variable}:-image})`,
        );
      throw err;
    }
  }
  try {
    parseReference(reference);
  } catch (err) {
    throw new FileError("INVALID_REFERENCE", `${file}:${line}: ${oneLine(err)}`);
  }
  return {
    file,
    line,
    reference,
    ...(literalOffset !== undefined ? { literal: { offset: literalOffset, text: reference } } : {}),
  };
}

/** Image references of a compose file or Kubernetes YAML. Throws FileError; null when the file is neither. */
export function yamlReferences(
  file: string,
  text: string,
): { kind: FileKind; references: FoundReference[] } | null {
  const detected = yamlKind(file, text);
  if (!detected) return null;
  const { kind, parsed } = detected;
  const out: FoundReference[] = [];
  for (const doc of parsed.docs) {
    if (kind === "compose") {
      const services = get(doc, doc.contents, "services");
      if (!isMap(services)) continue;
      for (const pair of services.items) {
        const image = getWritten(doc, pair.value, "image");
        const f = image && found(doc, file, text, parsed, image, true);
        if (f) out.push(f);
      }
      continue;
    }
    const kindNode = get(doc, doc.contents, "kind");
    const path = isScalar(kindNode) ? POD_SPEC_PATHS[String(kindNode.value)] : undefined;
    if (!path) continue;
    const spec = getPath(doc, doc.contents, path);
    for (const list of CONTAINER_LISTS) {
      const containers = get(doc, spec, list);
      if (!isSeq(containers)) continue;
      for (const c of containers.items) {
        const image = getWritten(doc, c, "image");
        const f = image && found(doc, file, text, parsed, image, false);
        if (f) out.push(f);
      }
    }
  }
  return { kind, references: out };
}
