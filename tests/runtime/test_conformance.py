"""Runs the runtime conformance suite for every registered provider."""

from .conformance import ClockConformance, RuntimeConformance, provider  # noqa: F401 - the fixture is used by name


class TestEveryProvider(RuntimeConformance, ClockConformance):
    pass
