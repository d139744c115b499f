"""Corpus downloads: resumable HTTP(S)/file:// transfers, checksums and safe archive extraction.

`download_file` fetches into ``<dest>.part`` and resumes it with an HTTP ``Range`` request after a
dropped connection or an interrupted run; the file only gets its final name once its size and
checksum are verified. `install_archive` extracts an archive into a temporary directory next to
the destination, refuses members that would land outside it (absolute paths, ``..``, links,
devices), writes a ``.complete`` marker and renames the directory into place, so a half-extracted
corpus never looks complete. Both are idempotent: a second call does nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from http.client import HTTPException
from pathlib import Path, PurePosixPath

from tqdm import tqdm

log = logging.getLogger(__name__)

COMPLETE = ".complete"
CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download or extraction that failed; the message names the URL or file and the cause."""


def read_sha256sums(path: str | Path) -> dict[str, str]:
    """``{file name: sha256}`` from a ``sha256sum``-style file (``<sha256>  <name>`` lines)."""
    sums = {}
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DownloadError(f"{path}:{lineno}: expected '<sha256>  <file name>'")
        sums[fields[1].lstrip("*")] = fields[0]
    return sums


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _algorithm(checksum: str) -> tuple[str, str]:
    """``"md5:<hex>"`` or ``"sha256:<hex>"`` (or a bare SHA-256) -> (algorithm, hex digest)."""
    algorithm, _, value = checksum.rpartition(":")
    algorithm = algorithm or "sha256"
    if algorithm not in ("md5", "sha256"):
        raise DownloadError(f"unknown checksum algorithm {algorithm!r} in {checksum!r}")
    return algorithm, value.lower()


def matches(path: str | Path, checksum: str) -> tuple[bool, str]:
    """(whether the file matches `checksum`, its digest as ``algorithm hex``)."""
    algorithm, want = _algorithm(checksum)
    got = file_digest(path, algorithm)
    return got == want, f"{algorithm} {got}"


def _fetch(url: str, part: Path, timeout: float) -> None:
    """One attempt: append to `part` from where it ends (Range), or restart it if the server
    ignores the range. Raises OSError/HTTPException on a dropped connection or short body."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "asr-downloader"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.URLError as err:
        if url.startswith("file:"):  # a missing local file: retrying will not help
            raise DownloadError(f"{url}: {err.reason}") from None
        if not isinstance(err, urllib.error.HTTPError):
            raise
        if err.code == 416 and have:  # nothing left to fetch: the .part is already whole
            return
        if err.code >= 500 or err.code == 429:
            raise ConnectionError(f"HTTP {err.code} {err.reason}") from None
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
    with response:
        status = getattr(response, "status", None)
        resumed = have and status == 206
        if have and not resumed:
            log.info("%s: server ignored the range request, restarting", url)
            have = 0
        length = response.headers.get("Content-Length")
        expected = have + int(length) if length is not None else None
        with (
            open(part, "ab" if resumed else "wb") as f,
            tqdm(
                total=expected,
                initial=have,
                unit="B",
                unit_scale=True,
                desc=part.name[:-5],
                disable=None,
            ) as bar,  # a progress bar on terminals only
        ):
            while block := response.read(CHUNK):
                f.write(block)
                bar.update(len(block))
    size = part.stat().st_size
    if expected is not None and size < expected:
        raise ConnectionError(f"connection closed after {size} of {expected} bytes")


def download_file(
    url: str,
    dest: str | Path,
    checksum: str | None = None,
    retries: int = 5,
    timeout: float = 60.0,
    backoff: float = 1.0,
) -> Path:
    """Download `url` to `dest` (resumable; idempotent) and verify its checksum when given: a
    SHA-256 hex digest, or ``"md5:<hex>"`` where only an MD5 is published (OpenSLR's md5sum.txt).

    Progress lives in ``<dest>.part``: a dropped connection is retried up to `retries` times,
    resuming with an HTTP Range request (or from scratch when the server ignores ranges), and an
    interrupted run resumes on the next call. A checksum mismatch deletes the file and raises
    `DownloadError` naming the URL and both checksums. An existing `dest` is verified, not fetched
    again.
    """
    dest = Path(dest)
    if dest.exists():
        if checksum is None or matches(dest, checksum)[0]:
            log.info("%s: already downloaded", dest)
            return dest
        log.warning("%s: checksum mismatch, downloading it again", dest)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            _fetch(url, part, timeout)
            break
        except (OSError, HTTPException) as err:  # URLError, timeouts, resets, short bodies
            if attempt == retries:
                raise DownloadError(
                    f"{url}: download failed after {retries + 1} attempts ({err}); "
                    f"run again to resume from {part}"
                ) from None
            log.warning("%s: %s; retrying (%d/%d)", url, err, attempt + 1, retries)
            time.sleep(backoff * 2**attempt)
    if checksum is not None:
        ok, got = matches(part, checksum)
        if not ok:
            part.unlink()
            want = " ".join(_algorithm(checksum))
            raise DownloadError(
                f"{url}: checksum mismatch (expected {want}, got {got}); "
                "the corrupted download was deleted"
            )
    os.replace(part, dest)
    log.info("%s: downloaded to %s", url, dest)
    return dest


# --------------------------------------------------------------------------- extraction


def _check_member(archive: Path, name: str) -> None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or name.startswith(("/", "\\")) or ":" in name:
        raise DownloadError(f"{archive}: unsafe path in archive: {name!r}")


def _extract(archive: Path, out: Path) -> None:
    """Extract a tar (any compression) or zip archive into `out`, refusing unsafe members."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for name in z.namelist():
                    _check_member(archive, name)
                z.extractall(out)
            return
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for m in members:
                _check_member(archive, m.name)
                if not (m.isfile() or m.isdir()):
                    raise DownloadError(
                        f"{archive}: refusing archive member {m.name!r} (links and special "
                        "files are not extracted)"
                    )
            if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
                tar.extractall(out, members=members, filter="data")
            else:
                tar.extractall(out, members=members)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as err:
        raise DownloadError(f"{archive}: cannot extract ({err})") from None


def is_complete(directory: str | Path) -> bool:
    return (Path(directory) / COMPLETE).is_file()


def install_archive(
    archive: str | Path,
    member: str | None,
    dest: str | Path,
    check: Callable[[Path], None] | None = None,
) -> Path:
    """Extract directory `member` of `archive` (e.g. ``LibriSpeech/dev-clean``; None: the
    archive's single top-level directory) to `dest`.

    Extraction goes to a temporary directory beside `dest`; `check(directory)` may raise to reject
    the content; then a ``.complete`` marker is written and the directory renamed to `dest`.
    Idempotent: a complete `dest` is left alone; an incomplete one is replaced.
    """
    archive, dest = Path(archive), Path(dest)
    if is_complete(dest):
        log.info("%s: already extracted", dest)
        return dest
    tmp = dest.parent / f".{dest.name}.extracting"
    shutil.rmtree(tmp, ignore_errors=True)  # left over from an interrupted run
    tmp.mkdir(parents=True)
    try:
        _extract(archive, tmp)
        if member is None:
            tops = list(tmp.iterdir())
            if len(tops) != 1 or not tops[0].is_dir():
                raise DownloadError(f"{archive}: expected one top-level directory in the archive")
            member = tops[0].name
        src = tmp / member
        if not src.is_dir():
            raise DownloadError(f"{archive}: archive has no directory {member!r}")
        if check is not None:
            check(src)
        info = {"archive": archive.name, "member": member, "extracted": time.time()}
        (src / COMPLETE).write_text(json.dumps(info) + "\n", encoding="utf-8")
        if dest.exists():
            log.warning("%s: incomplete (no %s marker), replacing it", dest, COMPLETE)
            shutil.rmtree(dest)
        os.replace(src, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("%s: extracted from %s", dest, archive)
    return dest
