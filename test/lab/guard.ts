/**
 * Lab suites need root and Debian daemons. Where they cannot run, they fail loudly
 * if LAB_REQUIRED=1 (CI) and otherwise announce, loudly, that they were skipped.
 */
import { labUnavailable } from "../../lab/preflight";

export { labUnavailable };

/** `describe` when the lab can run; otherwise a failing (LAB_REQUIRED=1) or loudly skipped suite. */
export function describeLab(title: string, body: () => void, needs?: string[]): void {
  const why = labUnavailable(needs);
  if (why === undefined) {
    describe(title, body);
    return;
  }
  if (process.env.LAB_REQUIRED === "1") {
    describe(title, () => {
      it("can run the lab", () => {
        throw new Error(`LAB_REQUIRED=1 but the lab cannot run: ${why}`);
      });
    });
    return;
  }
  console.warn(`\n*** LAB SUITE SKIPPED: ${title}: ${why} ***\n`);
  describe.skip(title, body);
}
