// A table paged with cursors: its first page comes with the page's request, later pages are
// fetched for the table alone.
import { useEffect, useState } from "react";

import { count } from "../format";

interface Connection {
  totalCount: number;
  pageInfo: { hasNextPage: boolean; endCursor?: string | null };
  edges: readonly unknown[];
}

export function usePages<C extends Connection>(first: C, fetchPage: (after: string) => Promise<C>) {
  const [cursors, setCursors] = useState<string[]>([]); // the `after` of each page past the first
  const [page, setPage] = useState<C | null>(null);
  const [loading, setLoading] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    setCursors([]);
    setPage(null);
    setProblem(null);
  }, [first]);
  const go = async (history: string[]) => {
    setLoading(true);
    setProblem(null);
    try {
      const after = history[history.length - 1];
      setPage(after === undefined ? null : await fetchPage(after));
      setCursors(history);
    } catch (error) {
      setProblem(`That page could not be fetched: ${(error as Error).message}`);
    } finally {
      setLoading(false);
    }
  };
  const shown = page ?? first;
  return {
    shown,
    loading,
    problem,
    pageNumber: cursors.length,
    previous: () => void go(cursors.slice(0, -1)),
    next: () => {
      const cursor = shown.pageInfo.endCursor;
      if (cursor) void go([...cursors, cursor]);
    },
    hasPrevious: cursors.length > 0,
    hasNext: shown.pageInfo.hasNextPage,
    onFirstPage: page === null,
  };
}

export function Pager(props: { noun: string; size: number; pages: ReturnType<typeof usePages> }) {
  const { noun, size, pages } = props;
  const first = pages.pageNumber * size + 1;
  const on = pages.shown.edges.length;
  return (
    <nav className="pager" aria-label={`Pages of ${noun}`}>
      <span>
        {on ? `${count(first)}–${count(first + on - 1)}` : "none"} of {count(pages.shown.totalCount)} {noun}
      </span>
      <button type="button" disabled={!pages.hasPrevious || pages.loading} onClick={pages.previous}>
        Previous
      </button>
      <button type="button" disabled={!pages.hasNext || pages.loading} onClick={pages.next}>
        Next
      </button>
      {pages.problem && <span role="alert">{pages.problem}</span>}
    </nav>
  );
}
