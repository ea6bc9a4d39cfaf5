"""The database: tables, engine, the embedded server and migrations."""
