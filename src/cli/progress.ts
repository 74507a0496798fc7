/**
 * cli/progress.ts — progress on stderr: a redrawn bar on a terminal, plain lines otherwise.
 *
 * Owns: drawing progress; nothing else. (Small enough that the package keeps no runtime
 * dependency for it.)
 */

export class Progress {
  private readonly tty: boolean;
  private lastPct = -1;
  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(out.isTTY);
  }

  update(done: number): void {
    const pct = this.total > 0 ? Math.floor((100 * done) / this.total) : 100;
    if (this.tty) {
      if (pct === this.lastPct) return;
      const width = 30;
      const fill = Math.round((width * pct) / 100);
      this.out.write(`\r${this.label} [${"#".repeat(fill)}${" ".repeat(width - fill)}] ${String(pct).padStart(3)}%`);
    } else {
      // Plain lines at each quarter, so logs stay readable.
      const step = pct >= 100 ? 100 : Math.floor(pct / 25) * 25;
      if (step <= this.lastPct) return;
      this.out.write(`${this.label}: ${step}%\n`);
      this.lastPct = step;
      return;
    }
    this.lastPct = pct;
  }

  finish(): void {
    this.update(this.total);
    if (this.tty) this.out.write("\n");
  }
}
