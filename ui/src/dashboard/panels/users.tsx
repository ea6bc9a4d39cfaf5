// The users with the most requests (or another order), ten at a time, with name and email. A
// page after the first is fetched for this table alone; a user's name narrows the page to them.
import { useEffect } from "react";

import { graphql } from "../../gql";
import type { UsersPanelFragment } from "../../gql/graphql";
import { Metric } from "../../gql/schema";
import type { Table } from "../csv";
import { count, usdCell } from "../format";
import { Pager, usePages } from "./paging";
import { DataTable, Narrow, Spend } from "./tables";
import { definePanel, type FetchAll, type PanelContext } from "./types";

export const PAGE_SIZE = 10;
const ALL_ROWS_PAGE = 1000; // the server's largest page

export const UsersPanel = graphql(`
  fragment UsersPanel on Usage {
    topUsers: users(first: $usersFirst, after: $usersAfter, orderBy: $usersOrder) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          user {
            id
            name
            email
          }
          metrics {
            messages
            requests
            spend
            unpricedRequests
            tokens {
              total
            }
          }
        }
      }
    }
  }
`);

type Users = UsersPanelFragment["topUsers"];
type Row = Users["edges"][number]["node"];

function table(rows: readonly Row[]): Table {
  return {
    columns: ["user_id", "name", "email", "messages", "requests", "total_tokens", "spend_usd"],
    rows: rows.map((r) => [r.user.id, r.user.name, r.user.email, r.metrics.messages, r.metrics.requests, r.metrics.tokens.total, usdCell(r.metrics.spend)]),
  };
}

function UsersTable({ data, context }: { data: UsersPanelFragment; context: PanelContext }) {
  const pages = usePages(data.topUsers, async (after) => {
    const usage = (await context.fetchAlone({ usersAfter: after })) as UsersPanelFragment;
    return usage.topUsers;
  });
  const rows = pages.shown.edges.map((edge) => edge.node);
  const { showing } = context;
  useEffect(() => showing(pages.onFirstPage ? null : table(rows)), [pages.shown]);
  const order = context.view.usersOrder;
  const sortBy = (metric: Metric) => ({
    active: order === metric,
    onSort: () => context.change({ ...context.view, usersOrder: metric }),
  });
  return (
    <div aria-busy={pages.loading}>
      <DataTable<Row>
        caption="Users"
        rows={rows}
        rowKey={(r) => r.user.id}
        columns={[
          {
            label: "User",
            cell: (r) => (
              <>
                <Narrow label={r.user.name ?? r.user.id} title="Narrow the page to this user" onClick={() => context.narrow("users", r.user.id)} />
                {r.user.email && <span className="muted"> {r.user.email}</span>}
              </>
            ),
          },
          { label: "Messages", numeric: true, cell: (r) => count(r.metrics.messages), sort: sortBy(Metric.Messages) },
          { label: "Requests", numeric: true, cell: (r) => count(r.metrics.requests), sort: sortBy(Metric.Requests) },
          { label: "Tokens", numeric: true, cell: (r) => count(r.metrics.tokens.total), sort: sortBy(Metric.TotalTokens) },
          { label: "Spend", numeric: true, cell: (r) => <Spend value={r.metrics.spend} />, sort: sortBy(Metric.Spend) },
        ]}
      />
      <Pager noun="users" size={PAGE_SIZE} pages={pages} />
    </div>
  );
}

/** Every row, a page at a time. */
async function everyUser(fetchAll: FetchAll): Promise<Table> {
  const rows: Row[] = [];
  let after: string | null = null;
  for (;;) {
    const usage = (await fetchAll({ usersFirst: ALL_ROWS_PAGE, usersAfter: after })) as UsersPanelFragment;
    rows.push(...usage.topUsers.edges.map((edge) => edge.node));
    const next = usage.topUsers.pageInfo.endCursor;
    if (!usage.topUsers.pageInfo.hasNextPage || !next) break;
    after = next;
  }
  return table(rows);
}

export default definePanel<UsersPanelFragment>({
  id: "users",
  title: "Top users",
  fragment: UsersPanel,
  fields: ["topUsers"],
  variables: (view) => ({ usersFirst: PAGE_SIZE, usersAfter: null, usersOrder: { metric: view.usersOrder } }),
  chart: false,
  wide: false,
  isEmpty: (data) => data.topUsers.totalCount === 0,
  empty: "No users in this range and filter.",
  estimate: () => PAGE_SIZE,
  rows: (data) => table(data.topUsers.edges.map((edge) => edge.node)),
  render: ({ data, context }) => <UsersTable data={data} context={context} />,
  allRows: (fetchAll) => everyUser(fetchAll),
});
