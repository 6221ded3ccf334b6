/**
 * The program (index.ts) loaded afresh, as `pulumi up` loads it: jest keeps one module registry per test file, so
 * each run goes through jest.isolateModules and gets its own copy of the program and of @pulumi/pulumi.
 */

// What hooked process "exit" before any program was loaded here: jest's own, and the test file's.
const baseline = new Set(process.listeners("exit"));

export function loadProgram<T = Record<string, unknown>>(): T {
  // Each copy of the SDK hooks "exit" (its promise-leak report; `tmp`, under its automation API, too). The copy a
  // previous run loaded is done with, so its hooks go: otherwise each holds its whole module graph until the file
  // ends, and past ten Node warns (MaxListenersExceededWarning).
  for (const l of process.listeners("exit")) if (!baseline.has(l)) process.removeListener("exit", l);
  let mod: unknown;
  jest.isolateModules(() => {
    mod = require("../../../index");
  });
  return mod as T;
}
