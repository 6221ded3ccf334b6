import { alignColumns } from "./columns";

describe("alignColumns", () => {
  it("makes each column as wide as its widest cell, whatever the lengths", () => {
    const text = alignColumns([
      ["gw-1", "gateway", "10.0.0.10"],
      ["monitoring-1", "observability", "10.0.0.11"],
    ]);
    expect(text).toBe("gw-1          gateway        10.0.0.10\nmonitoring-1  observability  10.0.0.11\n");
  });

  it("counts a range's dash as one character and leaves no trailing blanks", () => {
    const lines = alignColumns([
      ["from", "6379–6382/tcp", ""],
      ["app", "yes", ""],
    ]).split("\n");
    expect(lines[0]).toBe("from  6379–6382/tcp");
    expect(lines[1]).toBe("app   yes");
  });
});
