"""The committed .zci fixtures are exactly what make_fixtures.py writes.

pg_regress loads them with \\copy; if the client's encoding changed, they
would silently test an old stream.  This regenerates them into a temporary
directory and compares byte for byte.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_fixtures_are_reproduced_byte_for_byte(tmp_path):
    subprocess.run([sys.executable, str(FIXTURES / "make_fixtures.py"), str(tmp_path)],
                   check=True, env={"PYTHONPATH": str(FIXTURES.parents[1] / "python")})
    made = {p.name: p.read_bytes() for p in tmp_path.glob("*.zci")}
    committed = {p.name: p.read_bytes() for p in FIXTURES.glob("*.zci")}
    assert sorted(made) == sorted(committed)
    changed = [name for name in made if made[name] != committed[name]]
    assert changed == [], f"regenerate the fixtures: {changed}"
