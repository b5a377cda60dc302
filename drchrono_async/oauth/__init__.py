"""OAuth for DrChrono: the app's token calls, token stores, and a client that stays signed in.

app = OAuthApp(client_id, client_secret, redirect_uri)
url = app.authorize_url(scope="patients calendar")   # send the user there
token = await app.exchange_code(code)                # on the callback
store = FileTokenStore("token.json")                 # encrypted when $DRCHRONO_TOKEN_KEYS is set
await store.save(token)
async with DrChronoClient(oauth=app, token_store=store) as client:
    ...                                              # refreshed as needed, for years
"""

from __future__ import annotations

from ._app import OAuthApp
from ._auth import DEFAULT_REFRESH_MARGIN, MAX_MARGIN_SHARE, RefreshingAuth
from ._cipher import ENV_KEYS, CipherChoice, StoreCipher, TokenCipher, resave, seal, unseal
from ._closing import CLOSE_WAIT
from ._redis_store import RedisTokenStore
from ._stores import FileTokenStore, MemoryTokenStore, TokenStore, check_replaces
from ._token import Token

__all__ = [
    "CLOSE_WAIT",
    "DEFAULT_REFRESH_MARGIN",
    "ENV_KEYS",
    "MAX_MARGIN_SHARE",
    "CipherChoice",
    "FileTokenStore",
    "MemoryTokenStore",
    "OAuthApp",
    "RedisTokenStore",
    "RefreshingAuth",
    "StoreCipher",
    "Token",
    "TokenCipher",
    "TokenStore",
    "check_replaces",
    "resave",
    "seal",
    "unseal",
]
