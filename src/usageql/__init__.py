"""usageql: a GraphQL analytics API over LLM usage."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("usageql")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
