"""The real-Redis fixtures of the quota tests serve the token store tests too."""

from tests.ratelimit.conftest import REDIS_URL, redis_client, redis_key

__all__ = ["REDIS_URL", "redis_client", "redis_key"]
