"""The bound of an API key: the apps and users it may reach. Every read narrows to it.

A bound is not a filter the caller chose: it is ANDed into every question, profile, preview,
catalog and price a request reads (src/usageql/graphql/reads.py), so no field, argument, row or
cursor reaches past it, and a field added later cannot forget it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from usageql.query.model import Dimension, Filter


@dataclass(frozen=True, slots=True)
class Bound:
    """The apps and users a key may reach (None: every one; empty: none)."""

    apps: tuple[str, ...] | None = None
    users: tuple[str, ...] | None = None

    @property
    def unbound(self) -> bool:
        """True for a key that reaches everything (an operator's key)."""
        return self.apps is None and self.users is None

    def filter(self) -> Filter:
        """The bound as a query filter."""
        values = ((Dimension.APP, self.apps), (Dimension.USER, self.users))
        return Filter(values=tuple((d, v) for d, v in values if v is not None))

    def within(self, filter: Filter) -> Filter:
        """`filter`, narrowed to the bound."""
        return self.filter().and_(filter) if not self.unbound else filter

    def allows_app(self, app: str) -> bool:
        """Whether the bound reaches `app`."""
        return self.apps is None or app in self.apps

    def allows_user(self, user: str | None) -> bool:
        """Whether the bound reaches records of `user` (None: records without a user)."""
        return self.users is None or user in self.users

    def users_within(self, users: Iterable[str] | None) -> tuple[str, ...] | None:
        """`users` (None: every user) narrowed to the bound's users."""
        if users is None:
            return self.users
        return tuple(u for u in users if self.allows_user(u))


NOTHING = Bound(apps=(), users=())
"""The bound of a caller that is not authenticated: it reaches nothing."""
