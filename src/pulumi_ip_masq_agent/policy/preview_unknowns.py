"""Values unknown during preview: collected per check and surfaced as one explicit advisory."""

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol, TypeVar

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError


class CannotCheckUntilDeployedError(UnknownValueError):
    """Raised after all known values were checked; the engine reports it as an advisory."""

    def __init__(self, subject: str, fields: Sequence[str]) -> None:
        # Subclassing the SDK's error is what makes `pulumi preview` turn this into an
        # advisory diagnostic instead of failing the policy run.
        super().__init__(UNKNOWN_STRING_VALUE, list(fields))
        self.subject = subject
        self.fields = tuple(fields)
        self.message = (
            f"cannot check until deployed: {subject}: {'; '.join(self.fields)} not known yet"
        )

    def __str__(self) -> str:
        return self.message


class _Named(Protocol):
    @property
    def name(self) -> str: ...


R = TypeVar("R", bound=_Named)
T = TypeVar("T")


class PreviewUnknowns:
    """Runs independent checks, remembering which fields were unknown instead of passing them."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.fields: list[str] = []

    @contextmanager
    def guard(self, where: str = "") -> Iterator[None]:
        """Run one check; an unknown value ends only this check and is recorded."""
        try:
            yield
        except CannotCheckUntilDeployedError as err:
            self.fields.extend(err.fields)
        except UnknownValueError as err:
            path = ".".join(err.props)
            self.fields.append(f"{where}{path}" if where else path)

    def read_each(
        self, resources: Iterable[R], wanted: Callable[[R], bool], read: Callable[[R], T | None]
    ) -> list[T]:
        """`read` of each wanted resource that gives an answer, each under its own guard
        (an unknown field of one resource is recorded as `<name>.<field>`, the rest go on)."""
        found: list[T] = []
        for resource in resources:
            if not wanted(resource):
                continue
            with self.guard(f"{resource.name}."):
                value = read(resource)
                if value is not None:
                    found.append(value)
        return found

    def note(self, field: str) -> None:
        """Record a field that cannot be resolved before deployment (e.g. a GKE-chosen range)."""
        self.fields.append(field)

    def raise_if_any(self) -> None:
        """Call last: known violations are already reported, the unknown rest becomes advisory."""
        if self.fields:
            raise CannotCheckUntilDeployedError(self.subject, list(dict.fromkeys(self.fields)))
