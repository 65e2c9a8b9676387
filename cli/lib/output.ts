/** Output helpers: plain tables, colour words (only on a terminal, never with NO_COLOR), JSON. */

const COLOURS: Record<string, number> = { green: 32, yellow: 33, red: 31, halted: 35, active: 31 };

export function useColour(stream: NodeJS.WriteStream = process.stdout): boolean {
  return !!stream.isTTY && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
}

/** A status word, coloured when writing to a terminal. */
export function colourWord(word: string, colourKey = word): string {
  const c = COLOURS[colourKey];
  return c && useColour() ? `\u001b[${c}m${word}\u001b[0m` : word;
}

// ANSI colour sequences start with the ESC control character.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;
// eslint-disable-next-line no-control-regex
const HAS_ANSI = /\u001b\[/;
const visible = (s: string) => s.replace(ANSI, '').length;

/** A left-aligned text table with a header row; cells longer than `maxWidth` are cut with "…". */
export function table(headers: string[], rows: string[][], maxWidth = 60): string {
  const cut = (s: string) => {
    const one = s.replace(/\s+/g, ' ');
    return visible(one) > maxWidth && !HAS_ANSI.test(one) ? `${one.slice(0, maxWidth - 1)}…` : one;
  };
  const cells = rows.map((r) => r.map(cut));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => visible(r[i] ?? ''))));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - visible(c))))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function println(text = ''): void {
  process.stdout.write(`${text}\n`);
}
