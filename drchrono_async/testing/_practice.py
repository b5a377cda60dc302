"""One practice of an emulator: its own tables, seed, users, tokens, API and staff activity.

An `Emulator` hosts one or more practices, as one DrChrono application serves every practice
that authorized it. Each practice numbers its records from its own id range (see
`PRACTICE_ID_STRIDE`), so a request never reaches another practice's record: the API answers
a token with its own practice's tables only, and another practice's id is a 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from drchrono_async._endpoints import BY_NAME, ENDPOINTS

from .._checks import check_int
from .._ids import MAX_INT_ID
from ..errors import InvalidRequestError
from ._activity import Activity
from ._api import Api
from ._oauth import Token
from ._seed import PRACTICE_ID_STRIDE, Seeder
from ._store import Table

if TYPE_CHECKING:
    from drchrono_async import DrChronoClient
    from drchrono_async.ratelimit import Clock

    from ._emulator import Emulator

__all__ = ["Practice"]


class Practice:
    """`emulator.practice(i)`: practice i's data and credentials.

    `access_token` (with `refresh_token`) is valid from the start and sees this practice
    only; `client()` is a `DrChronoClient` on it. `records`, `record`, `tables`, `activity`
    and `checksum` read or change this practice's state alone. Practice 0 is what the
    emulator's own `access_token`, `records()`, `activity`, ... have always been.
    """

    def __init__(
        self,
        emulator: Emulator,
        index: int,
        *,
        seed: int | str,
        sizes: Mapping[str, int] | None,
    ) -> None:
        self.index = index
        self.seed = seed
        self._emu = emulator
        first = index * PRACTICE_ID_STRIDE + 1
        self.tables: dict[str, Table] = {e.name: Table(e, first) for e in ENDPOINTS}
        seeder = Seeder(
            self.tables,
            seed=seed,
            now=emulator.local_now(),
            origin=emulator.base_url,
            sizes=sizes,
            practice=index,
        )
        seeder.run()
        self.current_user_id: int = seeder.current_user_id
        self.practice_group: int = seeder.practice_group
        self.api = Api(self.tables, seeder.fake, emulator.local_now)
        self.api.observer = self._changed
        self.activity = Activity(emulator, seed=seed, practice=index)  # simulated staff work
        self.token: Token = emulator.oauth.issue_token(self.current_user_id, practice=index)

    def _changed(self, resource: str, action: str, obj: Any) -> None:
        self._emu.webhooks.record_change(resource, action, obj, self.index)

    # --- credentials -------------------------------------------------------------------------

    @property
    def access_token(self) -> str:
        """A valid access token of this practice's first user (it expires after 48 h)."""
        return self.token.access

    @property
    def refresh_token(self) -> str:
        """The refresh token issued with `access_token`."""
        return self.token.refresh

    @property
    def clock(self) -> Clock:
        return self._emu.clock

    @property
    def client_secret(self) -> str:
        return self._emu.client_secret

    def owns_user(self, user_id: int) -> bool:
        """Whether `user_id` is one of this practice's users."""
        return user_id in self.tables["users"].rows

    def _user(self, user_id: int | None) -> int:
        if user_id is None:
            return self.current_user_id
        user_id = check_int(user_id, "user_id", low=1, high=MAX_INT_ID)
        if not self.owns_user(user_id):
            raise InvalidRequestError(f"user_id is not a user of practice {self.index}")
        return user_id

    def issue_token(self, user_id: int | None = None, *, client_id: str | None = None) -> Token:
        """Another token bound to this practice, for `user_id` (default: its first user).

        `client_id` names the application it is issued to (default: the emulator's); another
        application has a quota of its own when the quota is per application.
        """
        return self._emu.oauth.issue_token(
            self._user(user_id), practice=self.index, client_id=client_id
        )

    def issue_code(self, user_id: int | None = None, *, scope: str | None = None) -> str:
        """An authorization code of a user of this practice, as `/o/authorize` hands it out;
        its token has `scope` (None: every scope)."""
        return self._emu.oauth.issue_code(self._user(user_id), practice=self.index, scope=scope)

    def used(self) -> int:
        """Calls counted against `access_token`'s budget in the current window (under the
        per-application quota, the whole application's)."""
        return self._emu.used(self.access_token)

    def remaining(self) -> int:
        return self._emu.remaining(self.access_token)

    # --- state -------------------------------------------------------------------------------

    def _table(self, endpoint: str) -> Table:
        table = self.tables.get(endpoint) if isinstance(endpoint, str) else None
        if table is None:
            raise InvalidRequestError("not an endpoint of the API (see drchrono_async endpoints)")
        return table

    def records(self, endpoint: str) -> list[dict[str, Any]]:
        """Copies of every stored record of an endpoint (verbose keys included), by id."""
        return [dict(row.data) for row in self._table(endpoint)]

    def record(self, endpoint: str, id: int | str) -> dict[str, Any] | None:
        """A copy of one stored record of this practice, or None."""
        row = self._table(endpoint).lookup(str(id))
        return dict(row.data) if row is not None else None

    def live(self, resource: str, *, verbose: bool | None = None) -> dict[str, dict[str, Any]]:
        """The records a full listing shows (with its verbose keys if `verbose`), without
        soft-deleted ones, by the key a sync keeps them under: what a synced copy of this
        practice should hold live."""
        return self.expected(resource, verbose=verbose)[0]

    def expected(
        self, resource: str, *, verbose: bool | None = None
    ) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """What an exact copy of `resource` holds: the live records as listed (verbosely where
        a sync lists them so by default, unless `verbose` says), by the sync's key
        (`sync.key_of`: an id, an appointment, a payer type and id, a digest), and the keys
        of the records the API lists as deleted or archived."""
        from drchrono_async import converter
        from drchrono_async.sync import DELETED_FIELDS, default_verbose, key_of

        table = self._table(resource)
        endpoint = table.endpoint
        if verbose is None:
            verbose = default_verbose(endpoint)
        record_type = endpoint.record_type
        flags = [f for f in (*DELETED_FIELDS, endpoint.soft_delete_field) if f]
        live: dict[str, dict[str, Any]] = {}
        deleted: set[str] = set()
        for row in table:
            view = row.view(verbose, endpoint.verbose_keys)
            if record_type is None:
                continue
            listing = {name: row.get(name) for name in endpoint.sync_key.listing}
            key = key_of(converter.structure(view, record_type), endpoint, listing)
            if key is None:
                continue
            if any(view.get(f) is True for f in flags):
                deleted.add(key)
            else:
                live[key] = view
        return live, deleted

    def checksum(self, resource: str, *, verbose: bool | None = None) -> tuple[int, str]:
        """`live(resource)`'s size and checksum, the digest `SyncStore.checksum` computes
        (SHA-256 over id and canonical JSON, by id): compare a synced copy with it."""
        from drchrono_async.sync import payload_checksum

        live = self.live(resource, verbose=verbose)
        return len(live), payload_checksum(live.items())

    def iframe_url(self, page: str, *, base_url: str, **ids: int | None) -> str:
        """`Emulator.iframe_url` for this practice: ids default to its first user, their
        doctor and that doctor's first patient (or appointment)."""
        from ._iframe import iframe_url

        return iframe_url(self, page, base_url=base_url, **ids)

    # --- ways in -----------------------------------------------------------------------------

    def client(self, **options: Any) -> DrChronoClient:
        """A `DrChronoClient` with this practice's token (see `Emulator.client`)."""
        options.setdefault("access_token", self.access_token)
        return self._emu.client(**options)

    def __repr__(self) -> str:
        sizes = {name: len(t) for name, t in self.tables.items() if name in BY_NAME and len(t)}
        return f"Practice(index={self.index}, sizes={sizes})"
