"""`python -m usageql` is the `usageql` command."""

from usageql.cli import main

raise SystemExit(main())
