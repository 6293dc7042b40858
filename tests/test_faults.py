"""Faults on purpose: a full disk, a read-only folder, a CURRENT naming nothing, damaged
files, builds killed at random points, and two writers at once. After each the last
good index still answers, the error says what to do, and the next write repairs.

Tests go through the `qa` command (in this process, with the real model) and the files
on disk; the full disk and the read-only folder are a small tmpfs mounted for the test
when the tests run as root, else file-size limits and permissions of this user.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.check import check
from qa.cli import main
from qa.config import Settings
from qa.corpus.load import load
from qa.encoders.hashing import HashingEncoder
from qa.indexing import build
from qa.retrieve import Retriever
from qa.store.local import LocalStore
from tests.conftest import FAKE_MODEL, ROOT

TROOPS = "How many Russian troops are in Belarus?"
GRAIN = "When did the first grain ship leave Odesa?"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def story(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(f"---\ntitle: {name.title()} news\noutlet: Example Wire\n---\n{text}\n")
    return path


def grain(folder: Path) -> Path:
    return story(
        folder,
        "grain",
        "The first grain ship left the port of Odesa on Monday under a UN-brokered deal, "
        "port officials said.",
    )


def answers(capsys: pytest.CaptureFixture[str], index: Path, question: str) -> str:
    code, out, err = run(capsys, "ask", question, "--k", "1", "--index-dir", str(index))
    assert code == 0, err
    return out


def can_mount() -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    probe = Path("/tmp") / f"qa-mount-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)])
        if done.returncode == 0:
            subprocess.run(["umount", str(probe)], check=True)
        return done.returncode == 0
    finally:
        probe.rmdir()


MOUNT = can_mount()


@contextlib.contextmanager
def tmpfs(where: Path, kilobytes: int) -> Iterator[Path]:
    where.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(where)], check=True
    )
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def _used_kilobytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) // 1024 + 1


# -- a full disk ---------------------------------------------------------------------


def test_a_full_disk_during_a_build_keeps_the_index_and_says_to_free_space(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seed_copy: Path
) -> None:
    new = grain(tmp_path / "new")
    if MOUNT:
        # Room for the index and a little more, not for a second version beside it.
        with tmpfs(tmp_path / "disk", _used_kilobytes(seed_copy) + 120) as disk:
            index = disk / "index"
            shutil.copytree(seed_copy, index)
            before = (index / "CURRENT").read_text()
            code, _, err = run(capsys, "index", "--add", str(new), "--index-dir", str(index))
            assert code == 1
            assert "cannot write the index in" in err and "no space left on device" in err
            assert "free some space there" in err and "still answers" in err
            assert (index / "CURRENT").read_text() == before
            assert not list(index.glob(".build-*")), "the partial build keeps the disk full"
            assert "30,000 troops" in answers(capsys, index, TROOPS)
            shutil.copytree(index, seed_copy, dirs_exist_ok=True)
    else:
        # No mount here: the same refusal from a limit on file sizes, in a `qa` process.
        def limited() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

        done = subprocess.run(
            [sys.executable, "-m", "qa", "index", "--add", str(new), "--index-dir", str(seed_copy)],
            preexec_fn=limited,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert done.returncode == 1
        assert "cannot write the index in" in done.stderr and "file grew past" in done.stderr
        assert not list(seed_copy.glob(".build-*"))
    # With room again, the same write goes through and keeps every article.
    code, out, err = run(capsys, "index", "--add", str(new), "--index-dir", str(seed_copy))
    assert code == 0, err
    assert "Indexed 6 articles" in out
    assert "Odesa" in answers(capsys, seed_copy, GRAIN)


def test_a_read_only_index_folder_still_answers_and_a_write_says_why_not(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seed_copy: Path
) -> None:
    new = grain(tmp_path / "new")
    with contextlib.ExitStack() as stack:
        if MOUNT:
            disk = stack.enter_context(tmpfs(tmp_path / "disk", 4096))
            index = disk / "index"
            shutil.copytree(seed_copy, index)
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
            reason = "read-only file system"
        else:
            index = seed_copy
            for path in [index, *index.rglob("*")]:
                path.chmod(path.stat().st_mode & ~0o222)
            stack.callback(
                lambda: [p.chmod(p.stat().st_mode | 0o200) for p in [index, *index.rglob("*")]]
            )
            reason = "permission denied"
        code, _, err = run(capsys, "index", "--add", str(new), "--index-dir", str(index))
        assert code == 1
        assert f"cannot write the index in {index}: {reason}" in err
        assert "still answers" in err
        assert "30,000 troops" in answers(capsys, index, TROOPS)
        code, _, err = run(capsys, "check", "--sample", "5", "--index-dir", str(index))
        assert code == 0, err


# -- damage ----------------------------------------------------------------------------


def _two_versions(capsys: pytest.CaptureFixture[str], tmp_path: Path, index: Path) -> str:
    """The seeds, then the grain story added: the version before is kept."""
    code, _, err = run(
        capsys, "index", "--add", str(grain(tmp_path / "a")), "--index-dir", str(index)
    )
    assert code == 0, err
    return (index / "CURRENT").read_text().strip()


def test_current_naming_a_missing_version_is_served_from_the_last_good_one_then_repaired(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seed_copy: Path
) -> None:
    version = _two_versions(capsys, tmp_path, seed_copy)
    shutil.rmtree(seed_copy / version)
    code, out, err = run(capsys, "ask", TROOPS, "--k", "1", "--index-dir", str(seed_copy))
    assert code == 0 and "30,000 troops" in out
    assert f"CURRENT names '{version}', which is not there" in err
    assert "Meanwhile answering from the last good version" in err
    code, out, err = run(capsys, "check", "--sample", "0", "--index-dir", str(seed_copy))
    assert code == 1
    assert f"problem: the index in {seed_copy} is damaged: CURRENT names '{version}'" in out
    assert "opens whole (5 articles)" in out and "run `qa index`" in err
    # The next write builds on the last good version and says what may be missing.
    bridge = story(tmp_path / "b", "bridge", "The Korval Bridge reopened on Tuesday after repairs.")
    code, out, err = run(capsys, "index", "--add", str(bridge), "--index-dir", str(seed_copy))
    assert code == 0, err
    assert "may need adding again" in err
    code, out, err = run(capsys, "check", "--sample", "5", "--index-dir", str(seed_copy))
    assert code == 0 and "6 articles" in out, out + err


@pytest.mark.parametrize(
    ("name", "how"),
    [
        ("passages.faiss", "truncated"),
        ("sentences.faiss", "overwritten"),
        ("store.sqlite", "truncated"),
        ("store.sqlite", "overwritten"),
    ],
)
def test_a_damaged_file_is_found_and_the_last_good_version_answers_until_repaired(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seed_copy: Path, name: str, how: str
) -> None:
    version = _two_versions(capsys, tmp_path, seed_copy)
    path = seed_copy / version / name
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:  # a few bytes in the middle: the file still loads
        data[len(data) // 2 : len(data) // 2 + 16] = b"\x7f" * 16
        path.write_bytes(bytes(data))
    code, out, err = run(capsys, "check", "--sample", "0", "--index-dir", str(seed_copy))
    assert code == 1
    assert f"is damaged: {name} in {version} differ from the checksums" in out
    code, out, err = run(capsys, "ask", TROOPS, "--k", "1", "--index-dir", str(seed_copy))
    assert code == 0 and "30,000 troops" in out and "last good version" in err
    bridge = story(tmp_path / "b", "bridge", "The Korval Bridge reopened on Tuesday after repairs.")
    code, out, err = run(capsys, "index", "--add", str(bridge), "--index-dir", str(seed_copy))
    assert code == 0, err
    if name == "store.sqlite":  # the texts are gone from that version: said so
        assert "may need adding again" in err
        expected = 6
    else:  # the texts are intact: nothing is lost
        assert "nothing is lost" in err
        expected = 7
        assert "Odesa" in answers(capsys, seed_copy, GRAIN)
    code, out, err = run(capsys, "check", "--sample", "10", "--index-dir", str(seed_copy))
    assert code == 0 and f"{expected} articles" in out, out + err


# -- builds killed at random points --------------------------------------------------------


def _fake(index_dir: Path) -> Settings:
    return Settings(index_dir=index_dir, model=FAKE_MODEL, encoder="hashing")


def _hashing() -> HashingEncoder:
    return HashingEncoder(FAKE_MODEL)


def _build_child(index_dir: str, corpus: str) -> None:
    articles = load([Path(corpus)]).articles
    build(LocalStore(Path(index_dir)), articles, _fake(Path(index_dir)), _hashing, add=True)


def _corpus(folder: Path, n: int) -> Path:
    for i in range(40):
        story(
            folder,
            f"batch{n}-story{i}",
            "\n\n".join(
                f"Report {i} of batch {n}, paragraph {p}: the negotiators met again on day {p}. "
                f"The delegation number {i} arrived late because of snow. Officials declined "
                "to comment on the progress of the talks."
                for p in range(6)
            ),
        )
    return folder


def test_builds_killed_at_24_points_leave_an_index_that_opens_and_answers(
    tmp_path: Path,
) -> None:
    index = tmp_path / "index"
    settings = _fake(index)
    build(LocalStore(index), load([_corpus(tmp_path / "c0", 0)]).articles, settings, _hashing)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["qa.indexing", "qa.corpus.load", "tests.test_faults"])
    for n in (1, 2):  # the second is timed: the first starts the fork server
        started = time.monotonic()
        whole = context.Process(
            target=_build_child, args=(str(index), str(_corpus(tmp_path / f"c{n}", n)))
        )
        whole.start()
        whole.join(120)
        duration = time.monotonic() - started
        assert whole.exitcode == 0
    points = 24

    def kill_after(n: int, delay: float) -> bool:
        """Start build ``n``, SIGKILL it after ``delay`` s; whether it had landed."""
        before = set(LocalStore(index).open().documents.articles)
        corpus = _corpus(tmp_path / f"c{n}", n)
        child = context.Process(target=_build_child, args=(str(index), str(corpus)))
        child.start()
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):  # it finished first
            os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join(30)
        after = LocalStore(index).open()
        now = set(after.documents.articles)
        added = {a.id for a in load([corpus]).articles}
        assert now in (before, before | added), f"kill point {n}"
        result = Retriever(after, _hashing(), settings).ask("When did the negotiators meet?")
        assert result.answers
        report = check(settings, _hashing, sample=5)
        assert report.problems == [], (n, report.problems)
        return now == before | added

    landed = sum(kill_after(n, duration * 1.2 * (n - 2.5) / points) for n in range(3, 3 + points))
    # On a machine that got busier since the timed build, the sweep may end before any
    # build could: later points then wait longer, so that the kills still span a build.
    late = 3 + points
    while landed == 0 and late < 3 + points + 4:
        landed += kill_after(late, duration * 1.2 * 2 ** (late - 2 - points))
        late += 1
    assert 0 < landed < points, f"{landed} of {points} kills came after the build ended"
    # The next write removes what the killed builds left.
    build(LocalStore(index), [], settings, _hashing, add=True)
    assert not list(index.glob(".build-*"))


# -- two writers ------------------------------------------------------------------------------


def test_a_second_writer_waits_for_the_lock_or_gives_up_after_the_lock_timeout(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    seed_copy: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from qa.config import get_settings

    new = grain(tmp_path / "new")
    with open(seed_copy / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another writer at work
        monkeypatch.setenv("QA_LOCK_TIMEOUT", "0.5")
        get_settings.cache_clear()
        code, _, err = run(capsys, "index", "--add", str(new), "--index-dir", str(seed_copy))
        assert code == 1
        assert err == (
            f"error: another qa process is writing the index in {seed_copy}; "
            "try again when it has finished\n"
        )
        monkeypatch.setenv("QA_LOCK_TIMEOUT", "60")
        get_settings.cache_clear()
        threading.Timer(1.0, lambda: fcntl.flock(lock, fcntl.LOCK_UN)).start()
        waited = time.monotonic()
        code, out, err = run(capsys, "index", "--add", str(new), "--index-dir", str(seed_copy))
        assert code == 0, err
        assert time.monotonic() - waited >= 1.0  # it waited for the lock, then wrote
    assert "Indexed 6 articles" in out
