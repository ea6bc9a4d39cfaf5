// The models with the most requests; a model's name narrows the page to it.
import { graphql } from "../../gql";
import type { ModelsPanelFragment } from "../../gql/graphql";
import { count, ms } from "../format";
import { usdCell } from "../format";
import { DataTable, Narrow, Spend } from "./tables";
import { definePanel } from "./types";

export const ModelsPanel = graphql(`
  fragment ModelsPanel on Usage {
    topModels: models(orderBy: { metric: REQUESTS }, limit: 10) {
      model
      provider
      metrics {
        requests
        users
        failedRequests
        spend
        unpricedRequests
        tokens {
          input
          output
          total
        }
        latencyMs {
          p50
          p95
        }
      }
    }
  }
`);

type Row = ModelsPanelFragment["topModels"][number];

export default definePanel<ModelsPanelFragment>({
  id: "models",
  title: "Top models",
  fragment: ModelsPanel,
  fields: ["topModels"],
  chart: false,
  wide: false,
  isEmpty: (data) => data.topModels.length === 0,
  empty: "No requests in this range and filter.",
  estimate: () => 10,
  rows: (data) => ({
    columns: ["model", "provider", "requests", "users", "errors", "input_tokens", "output_tokens", "total_tokens", "spend_usd", "latency_p50_ms", "latency_p95_ms"],
    rows: data.topModels.map((r) => [
      r.model, r.provider, r.metrics.requests, r.metrics.users, r.metrics.failedRequests,
      r.metrics.tokens.input, r.metrics.tokens.output, r.metrics.tokens.total, usdCell(r.metrics.spend),
      r.metrics.latencyMs.p50, r.metrics.latencyMs.p95,
    ]),
  }),
  render: ({ data, context }) => (
    <DataTable<Row>
      caption="Models by requests"
      rows={data.topModels}
      rowKey={(r) => r.model}
      columns={[
        {
          label: "Model",
          cell: (r) => (
            <>
              <Narrow label={r.model} title="Narrow the page to this model" onClick={() => context.narrow("models", r.model)} />
              {r.provider && <span className="muted"> {r.provider}</span>}
            </>
          ),
        },
        { label: "Requests", numeric: true, cell: (r) => count(r.metrics.requests) },
        { label: "Users", numeric: true, cell: (r) => count(r.metrics.users) },
        { label: "Errors", numeric: true, cell: (r) => count(r.metrics.failedRequests) },
        { label: "Tokens", numeric: true, cell: (r) => count(r.metrics.tokens.total) },
        { label: "Spend", numeric: true, cell: (r) => <Spend value={r.metrics.spend} /> },
        { label: "p95", numeric: true, cell: (r) => ms(r.metrics.latencyMs.p95) },
      ]}
    />
  ),
});
