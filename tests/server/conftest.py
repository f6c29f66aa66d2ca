"""Fixtures of the server tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.attack_server import AttackServer, attack_server


@pytest.fixture(scope="session")
def attack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackServer]:
    """One real ``arkor-rx serve`` subprocess for every attack-matrix case of the session."""
    with attack_server(tmp_path_factory.mktemp("attack")) as server:
        yield server
