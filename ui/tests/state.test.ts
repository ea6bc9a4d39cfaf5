import { describe, expect, it } from "vitest";

import { parsePanel, serializePanel, type CustomPanel } from "../src/dashboard/custom";
import { drilled, pageFilter, pageGranularity, parseView, rangeSpan, serializeView, undrilled } from "../src/dashboard/state";

const NOW = Date.parse("2026-11-15T12:00:00Z");

describe("the view in the URL", () => {
  it("round-trips every part of the view", () => {
    const panel: CustomPanel = { title: "Plans, by ~model", chart: "pivot", by: ["MODEL", "metadata.plan,tier"], metrics: ["spend"], limit: 50 };
    const view = {
      ...parseView("", "Europe/Berlin"),
      range: "custom" as const,
      from: "2026-11-01",
      to: "2026-11-07",
      models: ["gpt-4o", "o3"],
      tags: ["a&b"],
      panels: [panel],
    };
    const again = parseView(serializeView(view), "UTC");
    expect(again).toEqual(view);
    expect(parsePanel(serializePanel(panel))).toEqual(panel);
  });

  it("ignores what it does not know", () => {
    const view = parseView("?range=forever&g=MINUTE&panel=bogus~x~y&users.order=NOPE", "UTC");
    expect(view.range).toBe("30d");
    expect(view.granularity).toBeNull();
    expect(view.panels).toEqual([]);
    expect(view.usersOrder).toBe("REQUESTS");
  });

  it("starts and ends ranges at local midnight in the view's zone", () => {
    const view = parseView("?range=7d&tz=America/New_York", "UTC");
    const span = rangeSpan(view, NOW);
    expect(new Date(span.from).toISOString()).toBe("2026-11-09T05:00:00.000Z");
    expect(new Date(span.to).toISOString()).toBe("2026-11-16T05:00:00.000Z");
    const month = rangeSpan(parseView("?range=last-month&tz=Europe/Berlin", "UTC"), NOW);
    expect(new Date(month.from).toISOString()).toBe("2026-09-30T22:00:00.000Z"); // CEST
    expect(new Date(month.to).toISOString()).toBe("2026-10-31T23:00:00.000Z"); // CET
    expect(pageFilter(view, NOW).from).toBe("2026-11-09T05:00:00.000Z");
  });

  it("drills into a bucket a step finer, and back", () => {
    const view = parseView("?range=30d&tz=UTC&g=WEEK", "UTC");
    const inside = drilled(view, "2026-11-02T00:00:00+00:00", "2026-11-09T00:00:00+00:00");
    expect(pageGranularity(inside)).toBe("DAY");
    expect(pageFilter(inside, NOW).from).toBe("2026-11-02T00:00:00.000Z");
    expect(undrilled(inside)).toEqual({ ...view, granularity: "WEEK" });
  });
});
