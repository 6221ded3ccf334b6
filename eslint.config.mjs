// Flat config: eslint's and typescript-eslint's recommended rules, tuned so the tree passes
// without churn: tests may use `any` and `require` (jest.isolateModules), `_`-prefixed names are deliberate.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const nodeGlobals = Object.fromEntries(
  ["require", "module", "exports", "process", "console", "__dirname", "__filename", "Buffer", "setTimeout", "clearTimeout", "globalThis", "URL"].map((g) => [
    g,
    "readonly",
  ]),
);

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", ".lab/", "plan-out/", "coverage/", "**/__snapshots__/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: nodeGlobals },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      "@typescript-eslint/no-explicit-any": "warn",
    },
  },
  {
    files: ["**/*.test.ts", "test/unit/**/*.ts"],
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-require-imports": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  { files: ["**/*.js", "**/*.cjs"], rules: { "@typescript-eslint/no-require-imports": "off" } },
  // Layers point one way: components <- scripts (operator CLIs) <- lab <- tests and bench (docs/architecture.md).
  layer("components/**/*.ts", ["scripts", "lab", "test", "bench"], "the library ships alone"),
  layer("scripts/**/*.ts", ["lab", "test", "bench"], "operator tools run without the lab"),
  layer("lab/**/*.ts", ["test", "bench"], "the lab is a tool the tests use, not the reverse"),
);

function layer(files, below, why) {
  return {
    files: [files],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: below.flatMap((d) => [`**/${d}`, `**/${d}/**`]), message: `${files.split("/")[0]}/ may not import ${below.join(", ")}: ${why}.` },
          ],
        },
      ],
    },
  };
}
