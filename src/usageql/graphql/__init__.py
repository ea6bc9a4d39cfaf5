"""The GraphQL API: types per domain, merged into one schema in `schema.py`."""
