const { rmSync } = require("fs");

module.exports = async () => {
  if (process.env.FLEET_TEST_TMPDIR) rmSync(process.env.FLEET_TEST_TMPDIR, { recursive: true, force: true });
};
