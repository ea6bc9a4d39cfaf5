// What every panel module gives the page: its fragment of the one request, how to show its
// answer, the rows it shows (for its table and CSV download) and at most how many rows it asks
// for (to say which panel to remove when a page asks for too much).
import type { ReactNode } from "react";

import type { Table } from "../csv";
import type { Narrowing, PageGranularity, ViewState } from "../state";

export interface PanelContext {
  view: ViewState;
  granularity: PageGranularity;
  timezone: string;
  /** Narrow the whole page to one more value (a drill-down). */
  narrow: (name: Narrowing, value: string) => void;
  /** Narrow the whole page to one time bucket. */
  drill: (start: string, end: string) => void;
  /** Change the view otherwise (a table's order, say). */
  change: (next: ViewState) => void;
  /** Runs this panel's query alone with more variables (a table's next page); its usage. */
  fetchAlone: FetchAll;
  /** Tells the panel's frame which rows are on screen, when not the page's own (another page
   * of a table): its CSV download holds those. */
  showing: (rows: Table | null) => void;
}

export interface PanelProps<D> {
  data: D;
  context: PanelContext;
  showTable: boolean;
}

export interface PanelDefinition<D> {
  id: string;
  title: string;
  /** The fragment on Usage it adds to the page's request. */
  fragment: { toString(): string };
  /** The fields (aliases) of usage the fragment selects: errors there are this panel's. */
  fields: readonly string[];
  /** Variables its fragment uses besides the page's own. */
  variables?: (view: ViewState) => Record<string, unknown>;
  /** Drawn as a chart, with a table of its rows on demand. */
  chart: boolean;
  wide: boolean;
  isEmpty: (data: D) => boolean;
  empty: string;
  rows: (data: D, context: PanelContext) => Table;
  render: (props: PanelProps<D>) => ReactNode;
  /** At most how many rows it asks for, given the buckets of a series. */
  estimate: (buckets: number) => number;
  /** A table paged through on its own: fetches every row for the CSV download. */
  allRows?: (fetchAll: FetchAll, context: PanelContext) => Promise<Table>;
}

/** Runs a query of this panel alone with more variables; its `usage` object. */
export type FetchAll = (variables: Record<string, unknown>) => Promise<unknown>;

/** A panel module's definition, typed by its fragment's answer; the page holds them untyped. */
export function definePanel<D>(definition: PanelDefinition<D>): PanelDefinition<unknown> {
  return definition as unknown as PanelDefinition<unknown>;
}
