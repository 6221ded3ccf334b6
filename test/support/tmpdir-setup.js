// Every temporary file a test run makes goes under one directory, removed when the run ends
// (tests call os.tmpdir(), which reads TMPDIR; jest's workers inherit it from this process).
const { mkdtempSync } = require("fs");
const { tmpdir } = require("os");
const path = require("path");

module.exports = async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "fleet-test-"));
  process.env.FLEET_TEST_TMPDIR = dir;
  process.env.TMPDIR = dir;
};
