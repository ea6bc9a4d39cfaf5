// The chat browser: the latest chats with their title, user, first message, models, tags and
// spend, ten at a time (later pages fetched for this table alone).
import { useEffect } from "react";

import { graphql } from "../../gql";
import type { ChatsPanelFragment } from "../../gql/graphql";
import type { Table } from "../csv";
import { count, usdCell } from "../format";
import { instantLabel } from "../time";
import { Pager, usePages } from "./paging";
import { Narrow, Spend } from "./tables";
import { definePanel, type FetchAll, type PanelContext } from "./types";

export const PAGE_SIZE = 10;
const ALL_ROWS_PAGE = 1000;

export const ChatsPanel = graphql(`
  fragment ChatsPanel on Usage {
    chatList: chats(first: $chatsFirst, after: $chatsAfter) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          app
          id
          title
          updatedAt
          messages
          models
          tags
          firstMessage
          user {
            id
            name
          }
          metrics {
            spend
          }
        }
      }
    }
  }
`);

type Chats = ChatsPanelFragment["chatList"];
type Row = Chats["edges"][number]["node"];

function table(rows: readonly Row[]): Table {
  return {
    columns: ["app", "chat_id", "title", "user_id", "user_name", "updated_at", "messages", "models", "tags", "spend_usd", "first_message"],
    rows: rows.map((r) => [
      r.app, r.id, r.title, r.user?.id, r.user?.name, r.updatedAt, r.messages, r.models.join(" "),
      r.tags.join(" "), usdCell(r.metrics.spend), r.firstMessage,
    ]),
  };
}

function ChatList({ data, context }: { data: ChatsPanelFragment; context: PanelContext }) {
  const pages = usePages(data.chatList, async (after) => {
    const usage = (await context.fetchAlone({ chatsAfter: after })) as ChatsPanelFragment;
    return usage.chatList;
  });
  const rows = pages.shown.edges.map((edge) => edge.node);
  const { showing } = context;
  useEffect(() => showing(pages.onFirstPage ? null : table(rows)), [pages.shown]);
  return (
    <div aria-busy={pages.loading}>
      <ul className="chats" aria-label="Chats">
        {rows.map((chat) => (
          <li key={`${chat.app}/${chat.id}`}>
            <div className="chat-head">
              <strong>{chat.title ?? chat.id}</strong>
              <span className="muted">
                {" "}
                {chat.user ? (
                  <Narrow label={chat.user.name ?? chat.user.id} title="Narrow the page to this user" onClick={() => chat.user && context.narrow("users", chat.user.id)} />
                ) : (
                  "no user"
                )}{" "}
                · {count(chat.messages)} message{chat.messages === 1 ? "" : "s"} · {chat.models.join(", ")} · <Spend value={chat.metrics.spend} /> ·{" "}
                {instantLabel(chat.updatedAt, context.timezone)}
              </span>
            </div>
            {chat.firstMessage && <p className="first-message">{chat.firstMessage}</p>}
            {chat.tags.length > 0 && (
              <p className="chat-tags">
                {chat.tags.map((tag) => (
                  <span className="tag" key={tag}>
                    {tag}
                  </span>
                ))}
              </p>
            )}
          </li>
        ))}
      </ul>
      <Pager noun="chats" size={PAGE_SIZE} pages={pages} />
    </div>
  );
}

async function everyChat(fetchAll: FetchAll): Promise<Table> {
  const rows: Row[] = [];
  let after: string | null = null;
  for (;;) {
    const usage = (await fetchAll({ chatsFirst: ALL_ROWS_PAGE, chatsAfter: after })) as ChatsPanelFragment;
    rows.push(...usage.chatList.edges.map((edge) => edge.node));
    const next = usage.chatList.pageInfo.endCursor;
    if (!usage.chatList.pageInfo.hasNextPage || !next) break;
    after = next;
  }
  return table(rows);
}

export default definePanel<ChatsPanelFragment>({
  id: "chats",
  title: "Chats",
  fragment: ChatsPanel,
  fields: ["chatList"],
  variables: () => ({ chatsFirst: PAGE_SIZE, chatsAfter: null }),
  chart: false,
  wide: true,
  isEmpty: (data) => data.chatList.totalCount === 0,
  empty: "No chats in this range and filter.",
  estimate: () => PAGE_SIZE,
  rows: (data) => table(data.chatList.edges.map((edge) => edge.node)),
  render: ({ data, context }) => <ChatList data={data} context={context} />,
  allRows: (fetchAll) => everyChat(fetchAll),
});
