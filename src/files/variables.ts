/**
 * `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:+alt}` and `${NAME+alt}`, as
 * Dockerfile ARGs and compose files substitute them
 * (https://docs.docker.com/reference/dockerfile/#environment-replacement,
 * https://docs.docker.com/reference/compose-file/interpolation/). Pure.
 */

/** A variable in scope: its value (undefined when declared without one) and where that value is written. */
export interface Variable {
  value: string | undefined;
  /** The value's offset in the file, when it is written there literally (no `$` of its own). */
  offset?: number;
}

/** The result of substituting a word: its value, and where it is written literally when it is. */
export interface Expanded {
  value: string;
  /** The offset of the written text that equals `value`, when one place in the file holds all of it. */
  literalOffset?: number;
}

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** A variable that has no value and no default. */
export class UndefinedVariable extends Error {
  constructor(readonly variable: string) {
    super(`\${${variable}} has no value and no default`);
  }
}

/**
 * Substitute the variables of `word`, written at `offset` (undefined when the word is not one
 * contiguous run of the file). `escapeDollar`: compose's `$$` stands for `$`. Throws
 * UndefinedVariable for a variable with neither a value nor a default.
 */
export function expand(
  word: string,
  offset: number | undefined,
  lookup: (name: string) => Variable | undefined,
  escapeDollar = false,
): Expanded {
  if (!word.includes("$")) return { value: word, literalOffset: offset };
  let value = "";
  let last = 0;
  let parts = 0;
  let literalOffset: number | undefined;
  // `$$` becomes a placeholder of the same length, so offsets in `text` are offsets in `word`.
  const escaped = escapeDollar && word.includes("$$");
  const text = escaped ? word.replaceAll("$$", "\u0000\u0000") : word;
  for (const m of text.matchAll(VARIABLE)) {
    if (m.index > last) parts++;
    value += text.slice(last, m.index);
    last = m.index + m[0].length;
    parts++;
    const name = (m[1] ?? m[4])!;
    const op = m[2];
    const alt = m[3] ?? "";
    const v = lookup(name);
    const unsetOrEmpty = v?.value === undefined || v.value === "";
    const unset = v?.value === undefined;
    let piece: string;
    let pieceOffset: number | undefined;
    const altOffset =
      offset === undefined || alt.includes("$") ? undefined : offset + m.index + m[0].length - 1 - alt.length;
    if (op === ":-" || op === "-") {
      const useDefault = op === ":-" ? unsetOrEmpty : unset;
      piece = useDefault ? alt : v!.value!;
      pieceOffset = useDefault ? altOffset : v!.offset;
    } else if (op === ":+" || op === "+") {
      const useAlt = op === ":+" ? !unsetOrEmpty : !unset;
      piece = useAlt ? alt : "";
      pieceOffset = useAlt ? altOffset : undefined;
    } else {
      if (unset) throw new UndefinedVariable(name);
      piece = v!.value!;
      pieceOffset = v!.offset;
    }
    value += piece;
    literalOffset = pieceOffset;
  }
  if (last < text.length) parts++;
  value += text.slice(last);
  if (escaped) value = value.replaceAll("\u0000\u0000", "$");
  // Only a word that is one variable (or one default) maps back to one written place.
  return parts === 1 && !escaped && literalOffset !== undefined ? { value, literalOffset } : { value };
}
