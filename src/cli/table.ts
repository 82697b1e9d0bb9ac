import { terminalText } from "../audit/display.js";

/** A cell is cut to this many characters, so one long value does not push every row off screen. */
const MAX_CELL = 60;

/**
 * Rows under an upper-case header, each column as wide as its widest cell (at most MAX_CELL),
 * two spaces apart. Every cell passes terminalText: names and reasons may come from an upstream
 * server or a caller, and nothing they hold may act on the terminal.
 */
export class Table {
  readonly widths: number[];

  constructor(
    readonly columns: readonly string[],
    rows: ReadonlyArray<readonly string[]> = [],
  ) {
    this.widths = columns.map((c, i) =>
      Math.min(MAX_CELL, Math.max(c.length, ...rows.map((r) => clean(r[i]).length))),
    );
  }

  header(): string {
    return this.line(this.columns.map((c) => c.toUpperCase()));
  }

  /** One row, padded to the widths the table was measured with (a longer cell just runs on). */
  line(cells: readonly string[]): string {
    return `${this.columns
      .map((_, i) => clean(cells[i]).padEnd(this.widths[i] as number))
      .join("  ")
      .trimEnd()}\n`;
  }
}

function clean(cell: string | undefined): string {
  return terminalText(cell ?? "").slice(0, MAX_CELL);
}

/** The whole table: header and rows. */
export function formatTable(columns: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const table = new Table(columns, rows);
  return table.header() + rows.map((r) => table.line(r)).join("");
}
