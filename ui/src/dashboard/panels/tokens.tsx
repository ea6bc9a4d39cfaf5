// Tokens over time, stacked by model (the five with the most tokens, and the rest).
import { useMemo } from "react";

import { graphql } from "../../gql";
import type { TokensPanelFragment } from "../../gql/graphql";
import { TimeChart } from "../chart";
import { stackedByRow, seriesTable } from "../series";
import { SeriesTable } from "./tables";
import { definePanel, type PanelContext } from "./types";

export const TokensPanel = graphql(`
  fragment TokensPanel on Usage {
    tokenSeries: timeseries(granularity: $granularity) {
      start
      end
      metrics {
        tokens {
          total
        }
      }
    }
    tokenModels: models(orderBy: { metric: TOTAL_TOKENS }, limit: 5) {
      model
      usage {
        timeseries(granularity: $granularity) {
          start
          end
          metrics {
            tokens {
              total
            }
          }
        }
      }
    }
  }
`);

function series(data: TokensPanelFragment) {
  return stackedByRow(
    data.tokenSeries,
    data.tokenModels,
    (row) => row.model,
    (row) => row.usage.timeseries,
    (bucket) => bucket.metrics.tokens.total,
  );
}

function Tokens({ data, context, showTable }: { data: TokensPanelFragment; context: PanelContext; showTable: boolean }) {
  const stacks = useMemo(() => series(data), [data]);
  const starts = useMemo(() => data.tokenSeries.map((b) => b.start), [data]);
  if (showTable) return <SeriesTable caption="Tokens per period and model" buckets={data.tokenSeries} series={stacks} kind="count" context={context} />;
  return (
    <TimeChart
      label="Tokens per period, stacked by model"
      starts={starts}
      series={stacks}
      stacked={true}
      kind="count"
      timezone={context.timezone}
      granularity={context.granularity}
      onBucket={(i) => {
        const bucket = data.tokenSeries[i];
        if (bucket) context.drill(bucket.start, bucket.end);
      }}
    />
  );
}

export default definePanel<TokensPanelFragment>({
  id: "tokens",
  title: "Tokens over time, by model",
  fragment: TokensPanel,
  fields: ["tokenSeries", "tokenModels"],
  chart: true,
  wide: false,
  isEmpty: (data) => data.tokenSeries.every((b) => !b.metrics.tokens.total),
  empty: "No tokens in this range and filter.",
  estimate: (buckets) => buckets * 6 + 5,
  rows: (data) => seriesTable(data.tokenSeries, series(data), (v) => v ?? 0),
  render: (props) => <Tokens {...props} />,
});
