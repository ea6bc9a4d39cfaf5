"""The bound of every number a record carries, and why no aggregate can overflow under them.

One record beyond what any real request reports (a latency of 1e308 ms, 2^53 tokens) must not be
able to break a total for every tenant or fail the batch it came in. Validation rejects such a
record alone, naming the field and the bound (usageql.ingest.parse, and usageql.ingest.pricing for
computed costs); a migration takes rows stored before these bounds out of the aggregates. Each
bound is far beyond real traffic: today's largest context windows are a few million tokens, and
the dearest list price is a few hundred USD per million tokens.
"""

from __future__ import annotations

MAX_TOKENS = 10**9
"""Tokens of each kind in one request (input, output, cache read, cache write, reasoning), in the
provider's raw fields and in usageql's normalised counts alike."""

MAX_LATENCY_MS = 7 * 24 * 3600 * 1000
"""latency_ms and ttft_ms of one request: 7 days (604,800,000 ms)."""

MAX_COST = 100_000
"""USD for one request, reported or computed from the price table."""

MAX_PRICE = 10_000
"""USD per million tokens, for each component of a model's price."""

MAX_METADATA_NUMBER = 2**53
"""Largest magnitude of a metadata number: every JSON reader, JavaScript's too, reads integers up
to 2^53 exactly, and orjson cannot encode integers beyond 64 bits at all. Floats are held to it
too: a JSON reader may turn a long integer into a float (orjson does beyond 64 bits), and the
bound must not depend on which reader a path uses."""

ROLLUP_ROW_RECORDS = 10**9
"""The most records assumed to fall into one rollup row: one app, one UTC hour and one key (model,
user, chat, tag, ...) at 278,000 records a second for the whole hour, about ten times what a
server ingests in total (bench/RESULTS.md)."""

# Why nothing overflows (tests/hostile/test_bounds.py checks this arithmetic and runs it on
# PostgreSQL):
#
# One messages row. Each token column (bigint) holds at most 10^9, so the per-row sum in
# SUM(input_tokens + output_tokens) is at most 2 x 10^9 (bigint arithmetic, max 9.22 x 10^18).
# cost (Numeric(20, 10), below 10^10): a reported cost is at most 10^5; a computed one is at most
# (input + output) x MAX_PRICE / 10^6 = 2 x 10^9 x 10^4 / 10^6 = 2 x 10^7 before MAX_COST rejects
# it, and Decimal's 28 digits hold each product exactly (10 digits of tokens x 14 of a price with
# 10 decimal places). latency_ms and ttft_ms (double precision) are at most 6.048 x 10^8.
#
# One rollup row (usageql.db.tables._rollup: bigint sums, a numeric cost, double maxima), at most
# ROLLUP_ROW_RECORDS records: messages and the request counts are at most 10^9; each token sum at
# most 10^9 x 10^9 = 10^18; the rollup total SUM(input_tokens + output_tokens) adds two of those
# per row, at most 2 x 10^18 < 9.22 x 10^18 (a single sum could take 9.2 x 10^9 records, a total
# 4.6 x 10^9). cost is numeric, at most 10^9 x 10^5 = 10^14; latency_max and ttft_max are maxima,
# within 6.048 x 10^8.
#
# Aggregates over any number of rows: SUM of bigint and of numeric is numeric in PostgreSQL, which
# does not overflow; counts cast to bigint would need 9.2 x 10^18 records; avg of double precision
# sums values of at most 6.048 x 10^8, which reach double's 1.8 x 10^308 only past 10^299 rows;
# percentiles and maxima are stored values.
