"""The API fuzzed from its own OpenAPI document (schemathesis), against a running office.

``suixin serve --demo`` runs in a process of its own, on SQLite and on PostgreSQL; schemathesis
generates requests for every operation, with and without an API key, valid and invalid
(``--mode all``, NUL bytes allowed in strings), through its four phases (the document's
examples, coverage of edge values, random fuzzing, stateful sequences), and checks each answer:
no 5xx, a status and media type the document declares, a body that fits its schema, invalid
data refused, methods and ``Allow`` headers as declared, authentication not ignored.

One check is left out, with its reason: ``positive_data_acceptance`` expects every request that
fits the JSON Schema to succeed, but a subject's rules go beyond what a schema can say (the check
digit of a citizen ID, region codes, dates against each other), so schema-valid data is rightly
refused with 422 and a reason.

The seed is printed (with ``SUIXIN_FUZZ_SEED`` a failure replays exactly);
``SUIXIN_FUZZ_EXAMPLES`` (default 12 per operation and phase) sets the depth: ``make fuzz``
runs deeper.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.anchoring.devnode import free_port
from tests.service.office_setup import postgres_schema
from tests.service.processes import start_office, stop_office

pytestmark = [pytest.mark.slow]

EXAMPLES = int(os.environ.get("SUIXIN_FUZZ_EXAMPLES", "12"))
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def office(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, int, str]]:
    """A running office (database name, port, the permit authority's API key)."""
    env = {"SUIXIN_PUBLIC_RATE_PER_MINUTE": "1000000"}  # the fuzzer is one client address
    with postgres_schema() if request.param == "postgres" else _nothing() as url:
        if url:
            env["SUIXIN_DATABASE_URL"] = url
        port = free_port()
        log = tmp_path / "office.log"
        server = start_office(tmp_path / "data", "embedded", port, env=env, log=log)
        try:
            keys = json.loads((tmp_path / "data" / "demo-api-keys.json").read_text("utf-8"))
            yield request.param, port, keys["did:web:lsj.gz.gov.cn"]
        finally:
            stop_office(server)
        # an unhandled exception is logged by the office even when it answered 500
        assert "Traceback" not in log.read_text(encoding="utf-8")


class _nothing:
    def __enter__(self) -> str:
        return ""

    def __exit__(self, *_: object) -> None:
        return None


def _fuzz(port: int, seed: int, workdir: Path, *headers: str) -> subprocess.Popen[str]:
    """A schemathesis run started (its output in ``workdir``), to be awaited with ``_result``."""
    command = [
        str(SCHEMATHESIS),
        "run",
        f"http://127.0.0.1:{port}/openapi.json",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--mode",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(seed),
        # one thread per run (the two runs are two processes): with two threads, Hypothesis's
        # ast.parse of a filter's lambda raised "SystemError: AST constructor recursion depth
        # mismatch" (CPython 3.11.7, python/cpython gh-106905)
        "--workers",
        "1",
        "--generation-allow-x00",
        "true",
        "--generation-database",
        "none",
        "--no-color",
        *(part for header in headers for part in ("-H", header)),
    ]
    workdir.mkdir()
    # schemathesis keeps a crash cache in its working directory: a temporary one, not the checkout
    with (workdir / "out.txt").open("w", encoding="utf-8") as out:  # the child keeps its copy
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=workdir,
            env=os.environ | {"NO_COLOR": "1"},
        )


def _result(run: subprocess.Popen[str], workdir: Path) -> tuple[int, str]:
    try:
        code = run.wait(timeout=900)
    finally:
        run.kill()
        run.wait()
    return code, (workdir / "out.txt").read_text(encoding="utf-8")


def test_the_api_holds_to_its_document_under_fuzzing(
    office: tuple[str, int, str], figures: list[str], tmp_path: Path
) -> None:
    require_schemathesis()
    database, port, key = office
    seed = int(os.environ.get("SUIXIN_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
    runs = [
        (who, tmp_path / name, _fuzz(port, seed, tmp_path / name, *headers))
        for who, name, headers in (
            ("with an API key", "keyed", (f"Authorization: Bearer {key}",)),
            ("without a key", "anonymous", ()),
        )
    ]
    for who, workdir, run in runs:
        code, out = _result(run, workdir)
        counts = re.search(r"(\d+) generated, (\d+) (?:passed|found)[^\n]*", out)
        operations = re.search(r"Tested: (\d+)", out)
        line = (
            f"fuzzing ({database}, {who}): seed {seed}, "
            f"{operations.group(1) if operations else '?'} operations, "
            f"{counts.group(0) if counts else 'no count'}"
        )
        figures.append(line)
        print(line)
        assert code == 0, f"{line}\nreplay with SUIXIN_FUZZ_SEED={seed}\n{out[-8000:]}"
        assert counts is not None and int(counts.group(1)) > 0, out[-3000:]
        assert operations is not None and int(operations.group(1)) >= 40, out[-3000:]


def require_schemathesis() -> None:
    from tests.conftest import require

    require(SCHEMATHESIS.exists(), "schemathesis not installed: run `make test` (dev extras)")
