import { describe, expect, it } from "vitest";

import { csvCell, csvName, toCsv } from "../src/dashboard/csv";

describe("CSV", () => {
  it("escapes cells a spreadsheet would run as formulas", () => {
    expect(["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"].map(csvCell)).toEqual([
      "'=1+1",
      "'+1",
      "'-1",
      "'@SUM(A1)",
      "'\tx",
      '"\'\rx"',
    ]);
  });

  it("writes numbers as numbers, and quotes what needs quoting", () => {
    expect(csvCell(-3)).toBe("-3");
    expect(csvCell(null)).toBe("");
    expect(csvCell('say "hi", then go')).toBe('"say ""hi"", then go"');
    expect(toCsv({ columns: ["a", "b"], rows: [[1, "=x"]] })).toBe("a,b\r\n1,'=x\r\n");
  });

  it("names the file after the panel", () => {
    expect(csvName("Top models")).toBe("usageql-top-models.csv");
  });
});
