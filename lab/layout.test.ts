import fc from "fast-check";
import { checkStackName, layout, LAPTOPS } from "./layout";
import { laptopLink } from "./laptops";

describe("stack names", () => {
  it("keep the laptops' link names within the kernel's 15 characters", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9]{1,12}$/), (s) => {
        fc.pre(!["t", "os", "vm"].includes(s));
        for (const l of LAPTOPS) expect(laptopLink(layout(s), l).length).toBeLessThanOrEqual(15);
      }),
    );
  });
  it("refuses names that could collide with other lab objects", () => {
    for (const bad of ["t", "os", "vm", "Dev", "a-b", "x".repeat(13), ""]) expect(() => checkStackName(bad)).toThrow(/lab stack name/);
  });
});
