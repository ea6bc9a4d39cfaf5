// Totals over the page's scope: messages, requests, users, chats, tokens by kind, spend (or
// "unpriced"), unpriced requests, errors, latency p50/p95.
import { graphql } from "../../gql";
import type { TotalsPanelFragment } from "../../gql/graphql";
import { count, ms, percent, usd, usdCell } from "../format";
import { definePanel } from "./types";

export const TotalsPanel = graphql(`
  fragment TotalsPanel on Usage {
    totals: summary {
      messages
      requests
      users
      chats
      failedRequests
      unpricedRequests
      spend
      tokens {
        input
        output
        cacheRead
        cacheWrite
        reasoning
        total
      }
      latencyMs {
        p50
        p95
      }
    }
  }
`);

type Totals = TotalsPanelFragment["totals"];

function figures(t: Totals): [string, string, string | null][] {
  return [
    ["Messages", count(t.messages), null],
    ["Requests", count(t.requests), null],
    ["Users", count(t.users), null],
    ["Chats", count(t.chats), null],
    ["Spend", usd(t.spend), t.unpricedRequests ? `${count(t.unpricedRequests)} requests unpriced` : null],
    ["Unpriced requests", count(t.unpricedRequests), null],
    ["Errors", count(t.failedRequests), `${percent(t.failedRequests, t.requests)} of requests`],
    ["Latency p50", ms(t.latencyMs.p50), null],
    ["Latency p95", ms(t.latencyMs.p95), null],
    ["Input tokens", count(t.tokens.input), `${count(t.tokens.cacheRead)} cache reads, ${count(t.tokens.cacheWrite)} cache writes`],
    ["Output tokens", count(t.tokens.output), `${count(t.tokens.reasoning)} reasoning`],
    ["Total tokens", count(t.tokens.total), null],
  ];
}

export default definePanel<TotalsPanelFragment>({
  id: "totals",
  title: "Totals",
  fragment: TotalsPanel,
  fields: ["totals"],
  chart: false,
  wide: true,
  isEmpty: (data) => data.totals.messages === 0,
  empty: "No messages in this range and filter.",
  estimate: () => 1,
  rows: ({ totals: t }) => ({
    columns: [
      "messages", "requests", "users", "chats", "spend_usd", "unpriced_requests", "errors",
      "latency_p50_ms", "latency_p95_ms", "input_tokens", "output_tokens", "cache_read_tokens",
      "cache_write_tokens", "reasoning_tokens", "total_tokens",
    ],
    rows: [[
      t.messages, t.requests, t.users, t.chats, usdCell(t.spend), t.unpricedRequests, t.failedRequests,
      t.latencyMs.p50, t.latencyMs.p95, t.tokens.input, t.tokens.output, t.tokens.cacheRead,
      t.tokens.cacheWrite, t.tokens.reasoning, t.tokens.total,
    ]],
  }),
  render: ({ data }) => (
    <div className="stats">
      {figures(data.totals).map(([label, value, note]) => (
        <div className="stat" role="group" aria-label={label} key={label}>
          <span className="stat-label">{label}</span>
          <span className={value === "unpriced" ? "stat-value unpriced" : "stat-value"}>{value}</span>
          {note && <span className="stat-note">{note}</span>}
        </div>
      ))}
    </div>
  ),
});
