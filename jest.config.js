/** Two suites: `unit` needs nothing but node; `lab` needs root and Debian daemons. */
const tsJest = { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] };
module.exports = {
  // Lab suites drive real daemons; unit tests finish far below this.
  testTimeout: 300000,
  globalSetup: "<rootDir>/test/support/tmpdir-setup.js",
  globalTeardown: "<rootDir>/test/support/tmpdir-teardown.js",
  projects: [
    {
      displayName: "unit",
      testEnvironment: "node",
      transform: tsJest,
      testMatch: [
        "<rootDir>/components/**/*.test.ts",
        "<rootDir>/test/unit/**/*.test.ts",
        "<rootDir>/scripts/**/*.test.ts",
        "<rootDir>/lab/**/*.test.ts",
        "<rootDir>/policy/**/*.test.ts",
        "<rootDir>/bench/**/*.test.ts",
      ],
    },
    {
      displayName: "lab",
      testEnvironment: "node",
      transform: tsJest,
      testMatch: ["<rootDir>/test/lab/**/*.test.ts"],
    },
  ],
};
