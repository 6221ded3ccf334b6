/** Two suites: `unit` needs nothing but node; `lab` needs root and Debian daemons. */
const tsJest = { "^.+\\.ts$": ["ts-jest", { diagnostics: { warnOnly: false }, isolatedModules: true }] };
module.exports = {
  projects: [
    {
      displayName: "unit",
      testEnvironment: "node",
      transform: tsJest,
      testMatch: ["<rootDir>/components/**/*.test.ts", "<rootDir>/test/unit/**/*.test.ts", "<rootDir>/scripts/**/*.test.ts", "<rootDir>/lab/**/*.test.ts", "<rootDir>/policy/**/*.test.ts"],
    },
    {
      displayName: "lab",
      testEnvironment: "node",
      transform: tsJest,
      testMatch: ["<rootDir>/test/lab/**/*.test.ts"],
      testTimeout: 300000,
    },
  ],
};
