"""A chat's length class, which bounds where the chats spanning a moment can have begun.

A query that counts the chats first seen before a moment t and still active at t (those whose
first message is before t and last at or after it) would otherwise read every chat that began
before t. A chat of class k lasted less than 2^k seconds, so one spanning t began after
t - 2^k s: an index on (app, class, first time) finds them with one short range per class, and
at least half of what each range reads spans t (the chats of class k that began in the last
2^(k-1) s before t all do). Classes: 0 under 1 s, k for [2^(k-1), 2^k) s, 32 from 2^31 s
(68 years) on; timestamps ingestion accepts (2000 to now) never span 2^32 s.
"""

from __future__ import annotations

from datetime import timedelta

CLASSES = 33
_THRESHOLDS = ",".join(str(2**k) for k in range(CLASSES - 1))

SQL = (
    "width_bucket(extract(epoch FROM last_at - first_at),"
    f" '{{{_THRESHOLDS}}}'::numeric[])::smallint"
)
"""The class of a row of chat_spans, from its first_at and last_at (a generated column)."""

REACH = tuple(timedelta(seconds=2**k) for k in range(CLASSES))
"""For each class, how long before a moment a chat of that class spanning it began, at most."""
