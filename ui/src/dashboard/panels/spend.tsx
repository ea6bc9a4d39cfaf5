// Spend over time, stacked by model (the five costliest, and the rest). Spend is null where a
// bucket holds only unpriced requests: the table says "unpriced", the chart draws nothing.
import { useMemo } from "react";

import { graphql } from "../../gql";
import type { SpendPanelFragment } from "../../gql/graphql";
import { TimeChart } from "../chart";
import { usdCell } from "../format";
import { stackedByRow, seriesTable } from "../series";
import { SeriesTable } from "./tables";
import { definePanel, type PanelContext } from "./types";

export const SpendPanel = graphql(`
  fragment SpendPanel on Usage {
    spendSeries: timeseries(granularity: $granularity) {
      start
      end
      metrics {
        spend
        unpricedRequests
      }
    }
    spendModels: models(orderBy: { metric: SPEND }, limit: 5) {
      model
      usage {
        timeseries(granularity: $granularity) {
          start
          end
          metrics {
            spend
          }
        }
      }
    }
  }
`);

function series(data: SpendPanelFragment) {
  return stackedByRow(
    data.spendSeries,
    data.spendModels,
    (row) => row.model,
    (row) => row.usage.timeseries,
    (bucket) => bucket.metrics.spend,
  );
}

function Spend({ data, context, showTable }: { data: SpendPanelFragment; context: PanelContext; showTable: boolean }) {
  const stacks = useMemo(() => series(data), [data]);
  const starts = useMemo(() => data.spendSeries.map((b) => b.start), [data]);
  if (showTable) return <SeriesTable caption="Spend (USD) per period and model" buckets={data.spendSeries} series={stacks} kind="usd" context={context} />;
  return (
    <TimeChart
      label="Spend per period, stacked by model"
      starts={starts}
      series={stacks}
      stacked={true}
      kind="usd"
      timezone={context.timezone}
      granularity={context.granularity}
      onBucket={(i) => {
        const bucket = data.spendSeries[i];
        if (bucket) context.drill(bucket.start, bucket.end);
      }}
    />
  );
}

export default definePanel<SpendPanelFragment>({
  id: "spend",
  title: "Spend over time, by model",
  fragment: SpendPanel,
  fields: ["spendSeries", "spendModels"],
  chart: true,
  wide: false,
  isEmpty: (data) => data.spendSeries.every((b) => !b.metrics.spend && !b.metrics.unpricedRequests),
  empty: "No spend in this range and filter.",
  estimate: (buckets) => buckets * 6 + 5,
  rows: (data) => seriesTable(data.spendSeries, series(data), usdCell),
  render: (props) => <Spend {...props} />,
});
