"""The query layer: model (what to compute), catalog (what each metric and dimension means),
compile (the SQL), execute (running it)."""
