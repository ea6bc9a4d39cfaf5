# usageql: `docker build -t usageql .` then `docker run -e DATABASE_URL=... -p 8000:8000 usageql`.
# Without DATABASE_URL the container runs the embedded PostgreSQL in /data (mount a volume there).
# Python 3.11: the version requirements.lock is resolved for.
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

# Then the package itself, without resolving anything again; `pip check` stops the build if
# the lock no longer satisfies pyproject.toml's ranges.
COPY pyproject.toml README.md ./
COPY src ./src
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
