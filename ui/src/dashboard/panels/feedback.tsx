// Ratings over time: thumbs up (won) and down (lost) per period, stacked.
import { useMemo } from "react";

import { graphql } from "../../gql";
import type { FeedbackPanelFragment } from "../../gql/graphql";
import { TimeChart } from "../chart";
import { count, percent } from "../format";
import { seriesTable } from "../series";
import { SeriesTable } from "./tables";
import { definePanel, type PanelContext } from "./types";

export const FeedbackPanel = graphql(`
  fragment FeedbackPanel on Usage {
    feedbackSeries: feedback(granularity: $granularity) {
      start
      end
      positive
      negative
    }
  }
`);

function series(data: FeedbackPanelFragment) {
  return [
    { label: "won", values: data.feedbackSeries.map((b) => b.positive), color: "#16a34a" },
    { label: "lost", values: data.feedbackSeries.map((b) => b.negative), color: "#dc2626" },
  ];
}

function Feedback({ data, context, showTable }: { data: FeedbackPanelFragment; context: PanelContext; showTable: boolean }) {
  const stacks = useMemo(() => series(data), [data]);
  const starts = useMemo(() => data.feedbackSeries.map((b) => b.start), [data]);
  const won = data.feedbackSeries.reduce((sum, b) => sum + b.positive, 0);
  const lost = data.feedbackSeries.reduce((sum, b) => sum + b.negative, 0);
  return (
    <>
      <p className="summary">
        {count(won)} won, {count(lost)} lost ({percent(won, won + lost)} won)
      </p>
      {showTable ? (
        <SeriesTable caption="Ratings per period" buckets={data.feedbackSeries} series={stacks} kind="count" context={context} />
      ) : (
        <TimeChart
          label="Ratings per period: won and lost"
          starts={starts}
          series={stacks}
          stacked={true}
          kind="count"
          timezone={context.timezone}
          granularity={context.granularity}
          height={200}
          onBucket={(i) => {
            const bucket = data.feedbackSeries[i];
            if (bucket) context.drill(bucket.start, bucket.end);
          }}
        />
      )}
    </>
  );
}

export default definePanel<FeedbackPanelFragment>({
  id: "feedback",
  title: "Feedback",
  fragment: FeedbackPanel,
  fields: ["feedbackSeries"],
  chart: true,
  wide: false,
  isEmpty: (data) => data.feedbackSeries.every((b) => b.positive === 0 && b.negative === 0),
  empty: "No ratings in this range and filter.",
  estimate: (buckets) => buckets,
  rows: (data) => seriesTable(data.feedbackSeries, series(data), (v) => v ?? 0),
  render: (props) => <Feedback {...props} />,
});
