"""Drills (placeholder)."""
from __future__ import annotations

import pytest

from tests.production.conftest import Production

pytestmark = pytest.mark.integration


def test_the_installed_service_runs(production: Production) -> None:
    print(production.host.journal())
    assert production.active()
