#!/usr/bin/env bash
# Generates a typed client from schema.graphql and examples/*.graphql with ariadne-codegen, in a
# virtualenv of its own (ariadne-codegen pins an older graphql-core than usageql uses), then runs
# every example query through it against the server at $1 (e.g. http://127.0.0.1:8000/graphql),
# with the API key in $USAGEQL_API_KEY.
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:?usage: USAGEQL_API_KEY=uq_... examples/typed_client_check.sh GRAPHQL_URL}
: "${USAGEQL_API_KEY:?set USAGEQL_API_KEY to a reader or admin key}"
venv=build/codegen-venv
[ -x "$venv/bin/ariadne-codegen" ] || {
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "ariadne-codegen>=0.14" "httpx>=0.27"
}
rm -rf build/typed-client && mkdir -p build/typed-client
"$venv/bin/ariadne-codegen" --config examples/ariadne-codegen.toml
PYTHONPATH=build/typed-client "$venv/bin/python" examples/typed_client_check.py "$url"
