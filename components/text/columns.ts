/**
 * Rows of cells as text, each column as wide as its widest cell, two spaces apart, no trailing blanks: the one
 * table layout for every report (the connectivity matrix, the lab's host list).
 */
export function alignColumns(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  return rows
    .map(
      (row) =>
        row
          .map((c, i) => c + " ".repeat(widths[i] - [...c].length))
          .join("  ")
          .trimEnd() + "\n",
    )
    .join("");
}
