"""Ingestion: records in, rows out, written in bulk and idempotently."""
