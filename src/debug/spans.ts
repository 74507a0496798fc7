/**
 * debug/spans.ts — where pymalloc's own modules lie in a bundle's script, whose file names tell
 * nothing (report.ts's isOwnFrame). Owns: the spans each marks by spanStart(new Error()) as its
 * first statement and spanEnd(new Error()) as its last (a bundler keeps them in order). Must not:
 * import anything, or cost anything per allocation (only formatting a site reads it).
 */

/** Positions: line * 2^26 + column (columns of a minified line below 2^26, lines below 2^27). */
const LINE = 2 ** 26;
const spans: { url: string; from: number; to: number }[] = [];
const open: Error[] = [];

/** The script URL and position of a stack line (V8's "at f (url:l:c)", "at url:l:c"; Firefox's "f@url:l:c"). */
function whereOf(line: string): [string, number] | undefined {
  const m = /([^\s(@]+):(\d+):(\d+)\)?$/.exec(line.trim());
  return m === null ? undefined : [m[1], Number(m[2]) * LINE + Number(m[3])];
}

/** Where an Error was made: its stack's first frame. */
function madeAt(e: Error): [string, number] | undefined {
  let s: unknown;
  try {
    s = e.stack;
  } catch {
    return undefined;
  }
  if (typeof s !== "string") return undefined;
  for (const line of s.split("\n")) {
    const w = whereOf(line);
    if (w !== undefined) return w;
  }
  return undefined;
}

/** A module's first statement. */
export function spanStart(e: Error): void {
  open.push(e);
}

/** Its last. */
export function spanEnd(e: Error): void {
  const start = open.pop();
  if (start === undefined) return;
  const a = madeAt(start);
  const b = madeAt(e);
  if (a !== undefined && b !== undefined && a[0] === b[0] && a[1] < b[1]) spans.push({ url: a[0], from: a[1], to: b[1] });
}

/** Whether a (trimmed) stack line is a frame of one of the marked modules' code. */
export function inOwnSpan(line: string): boolean {
  if (spans.length === 0) return false;
  const w = whereOf(line);
  if (w === undefined) return false;
  for (const s of spans) if (s.url === w[0] && w[1] >= s.from && w[1] <= s.to) return true;
  return false;
}
