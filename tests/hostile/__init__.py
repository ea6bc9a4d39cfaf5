"""The threat model as tests: a hostile tenant and a careless producer (see docs/security.md).

Each module is one kind of attempt: reading past a key's bound (test_scope, test_ingest_scope),
inputs that would poison totals or fail a batch (test_bounds, test_ingest_refusals,
test_ingest_conflicts, test_ingest_gzip, test_import_quotes, test_shapes), requests that would
cost the server too much (test_cost, test_request_bounds, test_key_concurrency), and faults
(test_outage, test_introspection_off).
"""
