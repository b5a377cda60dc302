"""The real-Redis fixtures of the quota tests serve the token store tests too."""

from tests.ratelimit.conftest import redis_client, redis_key

__all__ = ["redis_client", "redis_key"]
