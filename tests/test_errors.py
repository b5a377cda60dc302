import builtins

from drchrono_async import errors


def test_tree() -> None:
    for cls in (
        errors.BadRequestError,
        errors.AuthenticationError,
        errors.PermissionDeniedError,
        errors.NotFoundError,
        errors.ConflictError,
        errors.RateLimitError,
        errors.ServerError,
    ):
        assert issubclass(cls, errors.APIError)
    # Nothing was sent and no 429 happened: a request error, not an API answer.
    assert issubclass(errors.QuotaExhaustedError, errors.RequestError)
    assert not issubclass(errors.QuotaExhaustedError, errors.APIError)
    assert issubclass(errors.TimeoutError, errors.TransportError)
    for cls in (
        errors.APIError,
        errors.TransportError,
        errors.ResponseDecodeError,
        errors.RedirectError,
        errors.PaginationError,
        errors.QuotaExhaustedError,
    ):
        assert issubclass(cls, errors.RequestError)
        assert "method" in cls.__init__.__code__.co_varnames or cls is errors.RedirectError
    for cls in (
        errors.APIError,
        errors.TransportError,
        errors.ResponseDecodeError,
        errors.RedirectError,
        errors.InvalidRequestError,
        errors.RecordDecodeError,
        errors.PaginationError,
    ):
        assert issubclass(cls, errors.DrChronoError)
    # A token store is no sync store: its errors are not StoreError (nor the other way).
    assert issubclass(errors.TokenConflictError, errors.TokenStoreError)
    assert errors.TokenStoreError.__bases__ == (errors.DrChronoError,)
    assert not issubclass(errors.TokenStoreError, errors.StoreError)
    assert not issubclass(errors.StoreError, errors.TokenStoreError)
    for cls in (errors.StoreTimeoutError, errors.StoreLockedError):
        assert issubclass(cls, errors.StoreError)


def test_field_errors_flatten_nested_maps_and_ignore_non_maps() -> None:
    err = errors.BadRequestError(
        "x",
        status_code=400,
        method="POST",
        path="/api/patients",
        body={"primary_insurance": {"payer_id": ["required"]}, "gender": "bad", "n": 3},
    )
    assert err.field_errors == {"primary_insurance.payer_id": ["required"], "gender": ["bad"]}
    plain = errors.BadRequestError("x", status_code=400, method="P", path="/", body=["a"])
    assert plain.field_errors == {}


def test_record_decode_error_names_type_and_field() -> None:
    err = errors.RecordDecodeError("Appointment", "duration", "expected an integer")
    assert str(err) == "Appointment.duration does not fit its declared type: expected an integer"
    assert (err.record_type, err.field) == ("Appointment", "duration")


async def test_errors_carry_method_and_path_set_once_at_construction() -> None:
    from drchrono_async import HourlyQuota
    from drchrono_async.testing import Emulator, VirtualClock

    emu = Emulator(seed=1, clock=VirtualClock())
    async with emu.client(max_wait=0, quota=HourlyQuota(limit=1, clock=emu.clock)) as client:
        await client.users.list()
        try:
            await client.patients.list()
        except errors.RequestError as exc:
            assert isinstance(exc, errors.QuotaExhaustedError)
            assert (exc.method, exc.path) == ("GET", "/api/patients")
            assert exc.resets_at > emu.clock.now() and exc.retry_after is not None
        else:
            raise AssertionError("the quota should be spent")


async def test_a_timeout_is_a_catchable_timeout_error() -> None:
    import httpx

    from drchrono_async import DrChronoClient

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with DrChronoClient(
        "tok",
        base_url="https://x.test",
        quota=None,
        max_retries=0,
        transport=httpx.MockTransport(slow),
    ) as client:
        try:
            await client.request("GET", "/api/x")
        except errors.TimeoutError as exc:
            assert exc.sent and exc.path == "/api/x"
        else:
            raise AssertionError("no timeout error")
        # The builtin name catches it too (as asyncio's timeouts are caught), and so does the
        # library's base class.
        try:
            await client.request("GET", "/api/x")
        except builtins.TimeoutError as exc:
            assert isinstance(exc, errors.TimeoutError) and str(exc) == str(exc.args[0])
        else:
            raise AssertionError("the builtin TimeoutError missed it")
        try:
            await client.request("GET", "/api/x")
        except errors.DrChronoError as exc:
            assert isinstance(exc, TimeoutError) and isinstance(exc, OSError)
            assert exc.errno is None  # an OSError by descent only: no errno is claimed
        else:
            raise AssertionError("DrChronoError missed it")


def test_the_library_timeout_is_the_builtin_one_by_descent() -> None:
    err = errors.TimeoutError("timed out", method="GET", path="/api/x", sent=False)
    assert isinstance(err, builtins.TimeoutError) and isinstance(err, errors.TransportError)
    assert (str(err), err.method, err.path, err.sent) == ("timed out", "GET", "/api/x", False)
    # The library's name and the builtin one are still two classes: a builtin timeout (from
    # asyncio, say) is not mistaken for a request's.
    assert not isinstance(builtins.TimeoutError("x"), errors.DrChronoError)
