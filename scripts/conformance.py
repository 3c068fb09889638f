"""The W3C conformance suites (vc-di-eddsa-test-suite, vc-data-model-2.0-test-suite) against a
running office.

    python scripts/conformance.py [--mirrors DIR] [--suite eddsa|vc2] [--keep]
    (also: make conformance)

The suites are not on a package registry. They, and the two GitHub packages they depend on
(w3c/vc-test-suite-implementations, w3c-ccg/data-integrity-test-suite-assertion), are read
from local git mirrors: ``DIR/<owner>+<name>/repo`` (a bare repository, as a ``git clone
--mirror`` makes it) or ``DIR/<name>`` / ``DIR/<name>.git``. DIR is ``--mirrors``, else
``$SUIXIN_CONFORMANCE_MIRRORS``, else ``/work/.mirror``. Nothing of theirs enters the checkout's
history: each HEAD is exported into ``.conformance/`` (git-ignored), its ``github:``
dependencies are pointed at the exported neighbours (``file:``), and ``npm install`` fetches the
rest from the npm registry.

Then an office starts on a free loopback port over the embedded chain, in a temporary data
directory, with the conformance issuer (``SUIXIN_CONFORMANCE_ISSUER``): it signs any well-formed
VC 2.0 credential (eddsa-jcs-2022) with an unaccredited did:key. The suites reach the office
through an HTTPS relay in this process (a self-signed certificate made for the run; the suites'
client does not check it), as they reach every implementation in W3C's reports: the
data-model suite calls plain-HTTP endpoints with a client of its own that sends no headers and
takes the VC API's ``{verifiableCredential}`` answer for the credential itself. The relay adds a
demo authority's API key to ``/credentials/issue`` (never printed, never written to the suites'
configuration) and passes the verify routes on untouched; loopback is a partner network for
this office, so the public rate limit does not apply.

Each suite runs under mocha (its JSON report in ``.conformance/<suite>.json``, its output in
``.conformance/<suite>.log``); the script prints, per suite, the commit and the passing, failing
and pending counts, and the failing tests' titles. Exit 0 when both ran with no failure, 1 when
a test failed, 2 when the set-up failed (mirrors missing, npm, the office).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout: python scripts/conformance.py
    sys.path.insert(0, str(ROOT))

from service.issuing.conformance import ConformanceIssuer  # noqa: E402

WORK = ROOT / ".conformance"
DEFAULT_MIRRORS = Path("/work/.mirror")
IMPLEMENTATION = "Suixin"
OFFICE_START_SECONDS = 180.0


@dataclass(frozen=True)
class Repo:
    """A GitHub repository the run needs, by owner and name."""

    owner: str
    name: str

    @property
    def slug(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def folder(self) -> str:
        return f"{self.owner}+{self.name}"


IMPLEMENTATIONS = Repo("w3c", "vc-test-suite-implementations")
ASSERTIONS = Repo("w3c-ccg", "data-integrity-test-suite-assertion")
# the github: dependencies the suites declare, by package name
DEPENDENCIES = {
    "vc-test-suite-implementations": IMPLEMENTATIONS,
    "data-integrity-test-suite-assertion": ASSERTIONS,
}


@dataclass(frozen=True)
class Suite:
    """A test suite: its repository, the tag our endpoints carry for it, and tags only our
    verifiers carry (a cryptosuite the office verifies but does not issue with)."""

    key: str
    repo: Repo
    tag: str
    verifier_tags: tuple[str, ...] = ()


SUITES = {
    "eddsa": Suite(
        "eddsa", Repo("w3c", "vc-di-eddsa-test-suite"), "eddsa-jcs-2022", ("eddsa-rdfc-2022",)
    ),
    "vc2": Suite("vc2", Repo("w3c", "vc-data-model-2.0-test-suite"), "vc2.0"),
}


class SetupError(Exception):
    """The run cannot start: the message says what to do."""


# -- the suites' files ------------------------------------------------------------------------


def git_dir(mirrors: Path, repo: Repo) -> Path | None:
    """The local git directory of ``repo`` under ``mirrors``, or None."""
    for candidate in (
        mirrors / repo.folder / "repo",
        mirrors / repo.folder,
        mirrors / f"{repo.name}.git",
        mirrors / repo.name / ".git",
        mirrors / repo.name,
    ):
        if candidate.is_dir() and _git(candidate, "rev-parse", "--verify", "-q", "HEAD"):
            return candidate
    return None


def _git(directory: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", f"--git-dir={directory}", *args], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def missing_message(mirrors: Path, missing: list[Repo]) -> str:
    lines = [
        f"The conformance suites are read from local git mirrors in {mirrors} "
        "(--mirrors DIR or SUIXIN_CONFORMANCE_MIRRORS); these are missing:",
        *(f"  {repo.slug}" for repo in missing),
        "Get each with, for example:",
        *(
            f"  git clone --mirror https://github.com/{repo.slug}.git "
            f"{mirrors / repo.folder / 'repo'}"
            for repo in missing
        ),
        "(or the fetch tool of a sandbox: github:<owner>/<name>), then run make conformance again.",
    ]
    return "\n".join(lines)


def export(mirrors: Path, repo: Repo) -> tuple[Path, str]:
    """``repo``'s HEAD exported under ``.conformance/`` (again only when HEAD moved): its folder
    and commit."""
    source = git_dir(mirrors, repo)
    assert source is not None
    commit = _git(source, "rev-parse", "HEAD")
    target = WORK / repo.folder
    stamp = target / ".suixin-commit"
    if stamp.exists() and stamp.read_text().strip() == commit:
        return target, commit
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    archive = subprocess.Popen(
        ["git", f"--git-dir={source}", "archive", "--format=tar", commit], stdout=subprocess.PIPE
    )
    extract = subprocess.run(["tar", "-x", "-C", str(target)], stdin=archive.stdout, check=False)
    if archive.wait() != 0 or extract.returncode != 0:
        raise SetupError(f"could not export {repo.slug} from {source}")
    stamp.write_text(commit + "\n")
    return target, commit


def rewrite_package(folder: Path) -> None:
    """The suite's package.json with its github: dependencies as file: paths to the exported
    neighbours, without development tools or a mocha configuration (the reporter is ours)."""
    path = folder / "package.json"
    original = folder / "package.json.orig"
    if not original.exists():
        shutil.copy(path, original)
    package = json.loads(original.read_text(encoding="utf-8"))
    dependencies = package.get("dependencies", {})
    for name, spec in list(dependencies.items()):
        if not str(spec).startswith("github:"):
            continue
        if name not in DEPENDENCIES:
            raise SetupError(f"{folder.name} depends on {name} ({spec}), which has no mirror here")
        dependencies[name] = f"file:../{DEPENDENCIES[name].folder}"
    package.pop("devDependencies", None)
    package.pop("mocha", None)
    path.write_text(json.dumps(package, indent=2) + "\n", encoding="utf-8")


def npm_install(folder: Path) -> None:
    """``npm install`` in ``folder`` unless its package.json is the one last installed. The
    file: dependencies are copied in (``--install-links``), so each finds the suite's
    ``localConfig.cjs`` from inside the suite's node_modules."""
    digest = hashlib.sha256((folder / "package.json").read_bytes()).hexdigest()
    stamp = folder / "node_modules" / ".suixin-installed"
    if stamp.exists() and stamp.read_text().strip() == digest:
        return
    print(f"npm install in {folder.relative_to(ROOT)} …", flush=True)
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--install-links", "--loglevel=error"],
        cwd=folder,
        check=False,
    )
    if done.returncode != 0:
        raise SetupError(f"npm install failed in {folder}")
    stamp.write_text(digest + "\n")


def write_local_config(folder: Path, suite: Suite, base: str, issuer_did: str) -> None:
    """The suite's ``localConfig.cjs``: this office, at ``base``, as the only implementation."""
    config = {
        "settings": {"enableInteropTests": False, "testAllImplementations": False},
        "implementations": [
            {
                "name": IMPLEMENTATION,
                "implementation": "Suixin office (conformance issuer)",
                "issuers": [
                    {
                        "id": issuer_did,
                        "endpoint": f"{base}/credentials/issue",
                        "supports": {"vc": ["2.0"]},
                        "tags": [suite.tag],
                    }
                ],
                "verifiers": [
                    {
                        "id": f"{base}/credentials/verify",
                        "endpoint": f"{base}/credentials/verify",
                        "supports": {"vc": ["2.0"]},
                        "tags": [suite.tag, *suite.verifier_tags],
                    }
                ],
                "vpVerifiers": [
                    {
                        "id": f"{base}/presentations/verify",
                        "endpoint": f"{base}/presentations/verify",
                        "supports": {"vc": ["2.0"]},
                        "tags": [suite.tag, *suite.verifier_tags],
                    }
                ],
            }
        ],
    }
    text = (
        "// Written by scripts/conformance.py for one run against a local Suixin office.\n"
        f"module.exports = {json.dumps(config, indent=2)};\n"
    )
    (folder / "localConfig.cjs").write_text(text, encoding="utf-8")


# -- the office -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Office:
    base: str
    data_dir: Path
    process: subprocess.Popen[bytes]

    def issuing_key(self) -> str:
        """A demo authority's API key (each may issue, so each may ask the conformance issuer)."""
        keys: dict[str, str] = json.loads(
            (self.data_dir / "demo-api-keys.json").read_text(encoding="utf-8")
        )
        if not keys:
            raise SetupError("the demo office made no API keys")
        return next(iter(keys.values()))


@contextmanager
def running_office(data_dir: Path) -> Iterator[Office]:
    """``suixin serve --demo`` with the conformance issuer on a free loopback port. Its output
    goes to files in the data directory (stdout lists the demo API keys: never shown here)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SUIXIN_MODE": "development",
        "SUIXIN_CONFORMANCE_ISSUER": "true",
        "SUIXIN_NODE_PORT": "0",
        "SUIXIN_PARTNER_NETWORKS": "127.0.0.1/32",
    }
    suixin = Path(sys.executable).parent / "suixin"
    command = [str(suixin), "serve", "--demo", "--chain", "embedded", "--data-dir", str(data_dir)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    out = (data_dir / "office.out").open("wb")
    err = (data_dir / "office.err").open("wb")
    process = subprocess.Popen(
        command, cwd=data_dir, env=env, stdout=out, stderr=err, start_new_session=True
    )
    try:
        _wait_healthy(base, process, data_dir)
        yield Office(base, data_dir, process)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        out.close()
        err.close()


def _wait_healthy(base: str, process: subprocess.Popen[bytes], data_dir: Path) -> None:
    deadline = time.monotonic() + OFFICE_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (data_dir / "office.err").read_text(errors="replace").splitlines()[-20:]
            raise SetupError(
                f"the office exited ({process.returncode}) before answering:\n" + "\n".join(tail)
            )
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise SetupError(f"the office did not answer {base}/healthz within {OFFICE_START_SECONDS} s")


class _Relay(BaseHTTPRequestHandler):
    """Passes a POST on to the office, with the API key added to ``/credentials/issue``;
    answers as the office did."""

    target: tuple[str, int]
    key: str
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        headers = {
            "Content-Type": self.headers.get("Content-Type", "application/json"),
            "Accept": self.headers.get("Accept", "application/json"),
        }
        if self.path == "/credentials/issue":
            headers["Authorization"] = f"Bearer {self.key}"
        connection = http.client.HTTPConnection(*self.target, timeout=60)
        try:
            connection.request("POST", self.path, body, headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        self.send_response(response.status)
        for name in ("Content-Type", "Retry-After"):
            value = response.getheader(name)
            if value is not None:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the suites' own logs say what was asked


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made for this run in ``directory``."""
    from datetime import UTC, datetime, timedelta
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "suixin conformance relay")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "relay.crt", directory / "relay.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@contextmanager
def relay(office: Office) -> Iterator[str]:
    """An HTTPS relay on loopback to ``office``; yields its base URL."""
    host, _, port = office.base.removeprefix("http://").partition(":")
    handler = type("Relay", (_Relay,), {"target": (host, int(port)), "key": office.issuing_key()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed(office.data_dir))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# -- running a suite --------------------------------------------------------------------------


@dataclass
class Outcome:
    suite: Suite
    commit: str
    passing: int
    failing: int
    pending: int
    failures: list[tuple[str, str]]


def run_suite(suite: Suite, folder: Path, commit: str) -> Outcome:
    """mocha over the suite's ``tests/``, the JSON report in ``.conformance/<suite>.json``."""
    report = WORK / f"{suite.key}.json"
    log = WORK / f"{suite.key}.log"
    report.unlink(missing_ok=True)
    # vc-test-suite-implementations reads localConfig.cjs from the app root: the suite
    env = {**os.environ, "APP_ROOT_PATH": str(folder)}
    command = [
        str(folder / "node_modules" / ".bin" / "mocha"),
        "tests/",
        "--timeout",
        "15000",
        "--preserve-symlinks",
        "--reporter",
        "json",
        "--reporter-option",
        f"output={report}",
    ]
    print(f"running {suite.repo.slug} ({_tags(suite)}) … output in {log.relative_to(ROOT)}")
    with log.open("wb") as out:
        subprocess.run(command, cwd=folder, env=env, stdout=out, stderr=out, check=False)
    if not report.exists():
        raise SetupError(f"{suite.repo.slug} wrote no report: see {log}")
    data = json.loads(report.read_text(encoding="utf-8"))
    stats = data["stats"]
    failures = []
    for test in data.get("failures", []):
        message = str(test.get("err", {}).get("message", "")).strip()
        failures.append((test["fullTitle"], message.splitlines()[0] if message else ""))
    return Outcome(
        suite,
        commit,
        int(stats.get("passes", 0)),
        int(stats.get("failures", 0)),
        int(stats.get("pending", 0)),
        failures,
    )


def _tags(suite: Suite) -> str:
    verifiers = f", verifiers also {', '.join(suite.verifier_tags)}" if suite.verifier_tags else ""
    return f"tag {suite.tag}{verifiers}"


def print_outcome(outcome: Outcome) -> None:
    suite = outcome.suite
    print(
        f"{suite.repo.slug} @ {outcome.commit[:12]} ({_tags(suite)}): "
        f"{outcome.passing} passing, {outcome.failing} failing, {outcome.pending} pending"
    )
    for title, message in outcome.failures:
        print(f"  FAIL {title}")
        if message:
            print(f"       {message[:200]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mirrors",
        type=Path,
        default=Path(os.environ.get("SUIXIN_CONFORMANCE_MIRRORS") or DEFAULT_MIRRORS),
        help="where the suites' git mirrors are (default: $SUIXIN_CONFORMANCE_MIRRORS or "
        f"{DEFAULT_MIRRORS})",
    )
    parser.add_argument(
        "--suite", choices=sorted(SUITES), action="append", help="run only this suite"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the office's data directory (printed)"
    )
    args = parser.parse_args(argv)
    suites = [SUITES[key] for key in (args.suite or list(SUITES))]
    try:
        return _run(args.mirrors, suites, keep=args.keep)
    except SetupError as e:
        print(f"conformance: {e}", file=sys.stderr)
        return 2


def _run(mirrors: Path, suites: list[Suite], *, keep: bool) -> int:
    needed = [suite.repo for suite in suites] + [IMPLEMENTATIONS, ASSERTIONS]
    missing = [repo for repo in needed if git_dir(mirrors, repo) is None]
    if missing:
        raise SetupError(missing_message(mirrors, missing))
    WORK.mkdir(exist_ok=True)
    for repo in (IMPLEMENTATIONS, ASSERTIONS):
        export(mirrors, repo)
    prepared = []
    for suite in suites:
        folder, commit = export(mirrors, suite.repo)
        rewrite_package(folder)
        npm_install(folder)
        prepared.append((suite, folder, commit))

    data_dir = Path(tempfile.mkdtemp(prefix="suixin-conformance-"))
    outcomes = []
    try:
        # made before the office starts, so its did:key can go into the suites' configuration
        issuer_did = ConformanceIssuer(data_dir).did
        print(f"starting an office in {data_dir} (conformance issuer {issuer_did}) …", flush=True)
        with running_office(data_dir) as office, relay(office) as relay_base:
            print(f"office on {office.base}, the suites' relay on {relay_base}", flush=True)
            for suite, folder, commit in prepared:
                write_local_config(folder, suite, relay_base, issuer_did)
                outcomes.append(run_suite(suite, folder, commit))
    finally:
        if keep:
            print(f"the office's data directory is kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)

    print()
    for outcome in outcomes:
        print_outcome(outcome)
    return 1 if any(outcome.failing for outcome in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
