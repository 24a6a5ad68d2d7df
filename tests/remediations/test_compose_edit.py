"""The compose-file edit behind rollback's compose strategy, on real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediations._compose import ComposeEditError, rewrite, with_image

PRODUCTION = """\
version: "3.8"   # compose file format
# the nickapp stack
services:
  nickapp-mongodb:
    image: mongo:7
  nickapp-backend:
    # Watchtower bumps :latest
    image: "ghcr.io/nick/backend:latest"  # deploys land here

    environment:
      image: not-this-one
  nginx:
    image: nginx:1.25
"""


def test_only_the_service_image_changes_and_comments_stay(tmp_path: Path) -> None:
    path = tmp_path / "docker-compose.production.yml"
    path.write_text(PRODUCTION)
    path.chmod(0o640)
    old = rewrite(path, "nickapp-backend", "ghcr.io/nick/backend:rollback-0123456789ab",
                  tmp_path / "backup.yml")
    assert old == "ghcr.io/nick/backend:latest"
    assert path.read_text() == PRODUCTION.replace(
        '"ghcr.io/nick/backend:latest"', '"ghcr.io/nick/backend:rollback-0123456789ab"')
    assert (tmp_path / "backup.yml").read_text() == PRODUCTION
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize(("text", "service", "problem"), [
    ("version: '3'\n", "web", "no top-level `services:`"),
    (PRODUCTION, "redis", "no service `redis`"),
    ("services:\n  web:\n    build: .\n", "web", "has no `image:` line"),
    ("services:\n  web:\n    image: >-\n      x:latest\n", "web", "after the edit"),  # caught by re-parsing
])
def test_unexpected_shapes_are_refused_with_the_reason(text: str, service: str,
                                                       problem: str) -> None:
    with pytest.raises(ComposeEditError, match=problem):
        with_image(text, service, "x:rollback-1")
