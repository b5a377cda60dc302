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
    assert issubclass(errors.QuotaExhaustedError, errors.RateLimitError)
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
