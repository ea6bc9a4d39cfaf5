// Request tags: requests, users, spend and errors, with daily, weekly and monthly active users
// at the range's last day (rolling: the day, the 7 days and the month ending then). A tag
// narrows the page to it.
import { graphql } from "../../gql";
import type { TagsPanelFragment } from "../../gql/graphql";
import { count, usdCell } from "../format";
import { DataTable, Narrow, Spend } from "./tables";
import { definePanel } from "./types";

export const TagsPanel = graphql(`
  fragment TagsPanel on Usage {
    topTags: tags(orderBy: { metric: REQUESTS }, limit: 10) {
      tag
      metrics {
        requests
        users
        failedRequests
        spend
        unpricedRequests
      }
      usage {
        dau: activeUsers(period: DAY, window: ROLLING, filter: { from: $lastDay }) {
          start
          users
        }
        wau: activeUsers(period: WEEK, window: ROLLING, filter: { from: $lastDay }) {
          start
          users
        }
        mau: activeUsers(period: MONTH, window: ROLLING, filter: { from: $lastDay }) {
          start
          users
        }
      }
    }
  }
`);

type Row = TagsPanelFragment["topTags"][number];

function last(periods: readonly { users: number }[]): number | null {
  return periods.length ? (periods[periods.length - 1]?.users ?? null) : null;
}

export default definePanel<TagsPanelFragment>({
  id: "tags",
  title: "Tags",
  fragment: TagsPanel,
  fields: ["topTags"],
  chart: false,
  wide: false,
  isEmpty: (data) => data.topTags.length === 0,
  empty: "No tagged requests in this range and filter.",
  estimate: () => 10 * 4,
  rows: (data) => ({
    columns: ["tag", "requests", "users", "errors", "spend_usd", "dau", "wau", "mau"],
    rows: data.topTags.map((r) => [
      r.tag, r.metrics.requests, r.metrics.users, r.metrics.failedRequests, usdCell(r.metrics.spend),
      last(r.usage.dau), last(r.usage.wau), last(r.usage.mau),
    ]),
  }),
  render: ({ data, context }) => (
    <DataTable<Row>
      caption="Tags by requests; DAU, WAU and MAU on the range's last day"
      rows={data.topTags}
      rowKey={(r) => r.tag}
      columns={[
        { label: "Tag", cell: (r) => <Narrow label={r.tag} title="Narrow the page to this tag" onClick={() => context.narrow("tags", r.tag)} /> },
        { label: "Requests", numeric: true, cell: (r) => count(r.metrics.requests) },
        { label: "Users", numeric: true, cell: (r) => count(r.metrics.users) },
        { label: "Spend", numeric: true, cell: (r) => <Spend value={r.metrics.spend} /> },
        { label: "DAU", numeric: true, cell: (r) => count(last(r.usage.dau)) },
        { label: "WAU", numeric: true, cell: (r) => count(last(r.usage.wau)) },
        { label: "MAU", numeric: true, cell: (r) => count(last(r.usage.mau)) },
      ]}
    />
  ),
});
