import { stackFilePath } from "./stack-file";

describe("stackFilePath", () => {
  it("names --config-file when the file it names is missing", () => {
    expect(() => stackFilePath("dev", "/nonexistent/Pulumi.x.yaml")).toThrow("--config-file /nonexistent/Pulumi.x.yaml: no such file");
  });

  it("names the stack and its default file when that is missing, and how to name another", () => {
    expect(() => stackFilePath("no-such-stack")).toThrow(
      /^stack no-such-stack: \/.*\/Pulumi\.no-such-stack\.yaml not found \(create it, or name a stack file with --config-file FILE\)$/,
    );
  });

  it("takes the stack's own file when it exists", () => {
    expect(stackFilePath("dev")).toMatch(/\/Pulumi\.dev\.yaml$/);
  });
});
