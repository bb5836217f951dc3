/**
 * Image references of a Dockerfile (https://docs.docker.com/reference/dockerfile/): every `FROM`
 * (any case, `--platform=...` skipped) and every `COPY --from=IMAGE`, with ARG defaults
 * substituted. ARGs declared before the first FROM are in scope for FROM lines; an ARG in a stage
 * (or a redeclared global one) for that stage's later instructions. Stage names, stage numbers and
 * `scratch` are not images. Line continuations and the `escape` parser directive are honoured.
 * Pure: the caller reads the file.
 */
import { oneLine } from "../errors.js";
import { parseReference } from "../reference/parse.js";
import { FileError, type FoundReference } from "./types.js";
import { expand, UndefinedVariable, type Variable } from "./variables.js";

/** One physical line (without its line break) and its offset in the file. */
interface Line {
  text: string;
  offset: number;
}

/** One instruction: its keyword and its words, each with its offset when written in one piece. */
interface Instruction {
  line: number;
  keyword: string;
  words: { text: string; offset: number | undefined }[];
}

/** Split `text` into lines with their offsets. */
export function linesOf(text: string): Line[] {
  const lines: Line[] = [];
  let offset = 0;
  for (const m of text.matchAll(/\r?\n|$/g)) {
    lines.push({ text: text.slice(offset, m.index), offset });
    offset = m.index + m[0].length;
    if (m[0] === "") break;
  }
  return lines;
}

/** The escape character from the `# escape=` parser directive (default backslash). */
function escapeChar(lines: Line[]): string {
  for (const l of lines) {
    const m = /^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$/.exec(l.text);
    if (!m) break;
    if (m[1]!.toLowerCase() === "escape" && (m[2] === "`" || m[2] === "\\")) return m[2];
  }
  return "\\";
}

/** Join continued lines into instructions; comment and empty lines inside a continuation are skipped. */
function instructions(text: string): Instruction[] {
  const lines = linesOf(text);
  const escapeWith = escapeChar(lines);
  const out: Instruction[] = [];
  let i = 0;
  const blank = (l: Line) => l.text.trim() === "" || l.text.trimStart().startsWith("#");
  while (i < lines.length) {
    if (blank(lines[i]!)) {
      i++;
      continue;
    }
    const start = i + 1;
    // Each piece keeps its file offset, so a word can be mapped back to where it is written.
    const pieces: { text: string; offset: number }[] = [];
    for (;;) {
      const l = lines[i]!;
      const trimmed = l.text.trimEnd();
      i++;
      if (!trimmed.endsWith(escapeWith)) {
        pieces.push({ text: l.text, offset: l.offset });
        break;
      }
      pieces.push({ text: trimmed.slice(0, -1), offset: l.offset });
      while (i < lines.length && blank(lines[i]!)) i++;
      if (i >= lines.length) break;
    }
    const words: Instruction["words"] = [];
    for (const [p, piece] of pieces.entries()) {
      for (const m of piece.text.matchAll(/(?:"[^"]*"|'[^']*'|\S)+/g)) {
        const word = { text: m[0], offset: piece.offset + m.index };
        // A word cut by a continuation is joined with the first part of the next piece.
        const previous = pieces[p - 1];
        if (
          m.index === 0 &&
          previous &&
          !/\s$/.test(previous.text) &&
          words.length > 0 &&
          !/^\s/.test(piece.text)
        ) {
          const last = words.at(-1)!;
          last.text += word.text;
          last.offset = undefined;
        } else words.push(word);
      }
    }
    const [keyword, ...rest] = words;
    if (keyword) out.push({ line: start, keyword: keyword.text.toUpperCase(), words: rest });
  }
  return out;
}

/** `"x"` or `'x'` without its quotes, and how far the value moved. */
function unquote(value: string): { text: string; shift: number } {
  if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0])
    return { text: value.slice(1, -1), shift: 1 };
  return { text: value, shift: 0 };
}

/** Every image reference in the Dockerfile `text`, read from `file`. Throws FileError. */
export function dockerfileReferences(file: string, text: string): FoundReference[] {
  const found: FoundReference[] = [];
  const globals = new Map<string, Variable>();
  let stage: Map<string, Variable> | null = null;
  const stages = new Set<string>();
  let stageCount = 0;

  const fail = (line: number, err: unknown): never => {
    if (err instanceof UndefinedVariable)
      throw new FileError(
        "UNDEFINED_VARIABLE",
        `${file}:${line}: ${err.message} (give the ARG a default, or write the image out)`,
      );
    throw err;
  };
  const add = (
    line: number,
    word: { text: string; offset: number | undefined },
    scope: Map<string, Variable>,
  ) => {
    let expanded: ReturnType<typeof expand>;
    try {
      expanded = expand(word.text, word.offset, (n) => scope.get(n));
    } catch (err) {
      return fail(line, err);
    }
    const image = expanded.value;
    if (image.toLowerCase() === "scratch" || stages.has(image.toLowerCase()) || /^\d+$/.test(image)) return;
    try {
      parseReference(image);
    } catch (err) {
      throw new FileError("INVALID_REFERENCE", `${file}:${line}: ${oneLine(err)}`);
    }
    found.push({
      file,
      line,
      reference: image,
      ...(expanded.literalOffset !== undefined
        ? { literal: { offset: expanded.literalOffset, text: image } }
        : {}),
    });
  };

  for (const ins of instructions(text)) {
    if (ins.keyword === "ARG") {
      const scope = stage ?? globals;
      for (const word of ins.words) {
        const eq = word.text.indexOf("=");
        const name = eq === -1 ? word.text : word.text.slice(0, eq);
        if (eq === -1) {
          // `ARG NAME` in a stage brings the global value in; before FROM it declares without a value.
          scope.set(name, stage ? (globals.get(name) ?? { value: undefined }) : { value: undefined });
          continue;
        }
        const { text: raw, shift } = unquote(word.text.slice(eq + 1));
        const at = word.offset === undefined ? undefined : word.offset + eq + 1 + shift;
        try {
          const v = expand(raw, at, (n) => scope.get(n));
          scope.set(name, {
            value: v.value,
            ...(v.literalOffset !== undefined ? { offset: v.literalOffset } : {}),
          });
        } catch (err) {
          fail(ins.line, err);
        }
      }
    } else if (ins.keyword === "FROM") {
      const args = ins.words.filter((w) => !w.text.startsWith("--"));
      const image = args[0];
      if (!image) throw new FileError("INVALID_REFERENCE", `${file}:${ins.line}: FROM names no image`);
      add(ins.line, image, globals);
      if (args[1]?.text.toLowerCase() === "as" && args[2]) stages.add(args[2].text.toLowerCase());
      stages.add(String(stageCount++));
      stage = new Map();
    } else if (ins.keyword === "COPY" && stage) {
      for (const w of ins.words) {
        if (!w.text.startsWith("--from=")) continue;
        const shift = "--from=".length;
        add(
          ins.line,
          { text: w.text.slice(shift), offset: w.offset === undefined ? undefined : w.offset + shift },
          stage,
        );
      }
    }
  }
  return found;
}
