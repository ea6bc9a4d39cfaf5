// Every request the page can send is valid against the server's schema.graphql.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

import { buildSchema, parse, validate } from "graphql";
import { describe, expect, it } from "vitest";

import { pageRequest } from "../src/dashboard/app";
import { CHARTS, type Chart, panelField } from "../src/dashboard/custom";
import { METRIC_NAMES } from "../src/dashboard/metrics";
import { PANELS } from "../src/dashboard/panels";
import { compose, variablesOf } from "../src/dashboard/query";
import { parseView } from "../src/dashboard/state";

const schema = buildSchema(readFileSync(resolve(import.meta.dirname, "../../schema.graphql"), "utf8"));

function errors(query: string): string[] {
  return validate(schema, parse(query)).map((error) => error.message);
}

describe("the page's request", () => {
  it("is valid, with every variable it uses declared", () => {
    const { query, variables } = pageRequest(parseView("?range=7d&tz=Asia/Kolkata&model=gpt-4o", "UTC"));
    expect(errors(query)).toEqual([]);
    expect(Object.keys(variablesOf(query, variables)).sort()).toEqual(Object.keys(variables).sort());
  });

  it("stays valid with a composed panel of every kind and metric", () => {
    const panels = (Object.keys(CHARTS) as Chart[]).map((chart) => ({
      title: chart,
      chart,
      by: chart === "pivot" ? ["MODEL", "metadata.plan"] : chart === "table" ? ["TAG", "APP"] : ["USER"],
      metrics: chart === "pivot" || chart === "line" || chart === "bar" ? ["spend" as const] : METRIC_NAMES,
      limit: 10,
    }));
    const view = { ...parseView("", "UTC"), panels };
    const { query } = pageRequest(view);
    expect(errors(query)).toEqual([]);
    const overTime = panelField("t", { title: "", chart: "line", by: [], metrics: METRIC_NAMES, limit: 5 });
    expect(errors(compose({ name: "T", fragments: [], fields: [overTime] }))).toEqual([]);
  });

  it("has each panel's query valid on its own", () => {
    for (const panel of PANELS) {
      expect(errors(compose({ name: "P", fragments: [panel.fragment] })), panel.id).toEqual([]);
    }
  });
});
