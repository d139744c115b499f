"""Corpus downloads against a fake LibriSpeech subset served over loopback HTTP (and file://):
resume, checksums, dropped connections, interrupted and unsafe extraction."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
from pathlib import Path

import pytest
from conftest import make_librispeech

from asr.cli import main
from asr.data.download import DownloadError, download_file, install_archive, is_complete
from asr.data.librispeech import download_librispeech, prepare_librispeech


def make_archive(tmp: Path, subset: str = "dev-clean") -> bytes:
    """A LibriSpeech-like ``<subset>.tar.gz``: LibriSpeech/<subset>/<spk>/<chap>/... + a README."""
    src = tmp / "src"
    make_librispeech(src / "LibriSpeech" / subset, speakers=2, utts=2)
    (src / "LibriSpeech" / "README.TXT").write_text("fake LibriSpeech\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src / "LibriSpeech", arcname="LibriSpeech")
    return buf.getvalue()


class Server:
    """Loopback HTTP server for in-memory files, honouring Range requests; can drop the
    connection after `drop_after` body bytes for the next `drops` responses."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self.drop_after, self.drops = 0, 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requests.append({"path": self.path, "range": self.headers.get("Range")})
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if server.drops > 0:
                    server.drops -= 1
                    self.wfile.write(body[start : start + server.drop_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[bytes, str]:
    data = make_archive(tmp_path_factory.mktemp("archive"))
    return data, hashlib.sha256(data).hexdigest()


def test_download_extract_prepare_and_idempotent(server, archive, tmp_path):
    data, sha = archive
    server.files["/12/dev-clean.tar.gz"] = data
    dirs = download_librispeech(tmp_path, ["dev-clean"], f"{server.url}/12", {"dev-clean": sha})
    subset = tmp_path / "LibriSpeech" / "dev-clean"
    assert dirs == {"dev-clean": subset} and is_complete(subset)
    assert (tmp_path / "dev-clean.tar.gz").read_bytes() == data
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.rglob("*.extracting"))
    report = prepare_librispeech(subset, tmp_path / "dev.jsonl")
    assert report.kept == 4
    n = len(server.requests)
    download_librispeech(tmp_path, ["dev-clean"], f"{server.url}/12", {"dev-clean": sha})
    assert len(server.requests) == n  # complete: nothing fetched again


def test_partial_download_resumes_with_range(server, archive, tmp_path):
    data, sha = archive
    server.files["/a.tar.gz"] = data
    half = len(data) // 2
    (tmp_path / "a.tar.gz.part").write_bytes(data[:half])
    out = download_file(f"{server.url}/a.tar.gz", tmp_path / "a.tar.gz", sha)
    assert out.read_bytes() == data
    assert server.requests == [{"path": "/a.tar.gz", "range": f"bytes={half}-"}]


def test_dropped_connection_is_resumed(server, archive, tmp_path):
    data, sha = archive
    server.files["/a.tar.gz"] = data
    server.drop_after, server.drops = 1000, 2
    out = download_file(f"{server.url}/a.tar.gz", tmp_path / "a.tar.gz", sha, backoff=0)
    assert out.read_bytes() == data
    assert [r["range"] for r in server.requests] == [None, "bytes=1000-", "bytes=2000-"]


def test_connection_dropped_every_time_is_a_clear_error(server, archive, tmp_path):
    data, sha = archive
    server.files["/a.tar.gz"] = data
    server.drop_after, server.drops = 100, 10
    url = f"{server.url}/a.tar.gz"
    with pytest.raises(DownloadError, match="after 2 attempts.*run again to resume") as err:
        download_file(url, tmp_path / "a.tar.gz", sha, retries=1, backoff=0)
    assert url in str(err.value)
    assert (tmp_path / "a.tar.gz.part").stat().st_size == 200  # kept for the next run
    assert not (tmp_path / "a.tar.gz").exists()
    server.drops = 0
    assert download_file(url, tmp_path / "a.tar.gz", sha).read_bytes() == data


def test_corrupted_archive_is_deleted_and_nothing_marked_complete(server, archive, tmp_path):
    data, sha = archive
    corrupt = bytearray(data)
    corrupt[len(data) // 2] ^= 0xFF
    server.files["/12/dev-clean.tar.gz"] = bytes(corrupt)
    with pytest.raises(DownloadError) as err:
        download_librispeech(tmp_path, ["dev-clean"], f"{server.url}/12", {"dev-clean": sha})
    message = str(err.value)
    bad = hashlib.sha256(corrupt).hexdigest()
    assert f"{server.url}/12/dev-clean.tar.gz: checksum mismatch" in message
    assert sha in message and bad in message
    assert not (tmp_path / "LibriSpeech").exists()
    assert not list(tmp_path.glob("dev-clean.tar.gz*"))


def test_http_error_is_reported_without_retrying(server, tmp_path):
    with pytest.raises(DownloadError, match=r"/nope.tar.gz: HTTP 404"):
        download_file(f"{server.url}/nope.tar.gz", tmp_path / "x.tar.gz")
    assert len(server.requests) == 1


def test_file_url_and_unknown_subset(archive, tmp_path):
    data, sha = archive
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "dev-clean.tar.gz").write_bytes(data)
    out = tmp_path / "out"
    download_librispeech(out, ["dev-clean"], mirror.as_uri(), {"dev-clean": sha})
    assert is_complete(out / "LibriSpeech" / "dev-clean")
    with pytest.raises(DownloadError, match="unknown LibriSpeech subset"):
        download_librispeech(out, ["dev-dirty"])
    with pytest.raises(DownloadError, match="missing.tar.gz"):
        download_file((mirror / "missing.tar.gz").as_uri(), out / "m.tar.gz")


def test_truncated_archive_and_interrupted_extraction_never_complete(archive, tmp_path):
    data, _ = archive
    truncated = tmp_path / "t.tar.gz"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    dest = tmp_path / "LibriSpeech" / "dev-clean"
    with pytest.raises(DownloadError, match="t.tar.gz: cannot extract"):
        install_archive(truncated, "LibriSpeech/dev-clean", dest)
    assert not dest.exists() and not list(dest.parent.glob(".*extracting"))

    whole = tmp_path / "w.tar.gz"
    whole.write_bytes(data)

    def killed(_: Path) -> None:
        raise KeyboardInterrupt  # the process dies after extracting, before the marker

    with pytest.raises(KeyboardInterrupt):
        install_archive(whole, "LibriSpeech/dev-clean", dest, check=killed)
    assert not dest.exists()
    # a copy left by an older, interrupted tool (no marker) is replaced by a complete one
    dest.mkdir(parents=True)
    (dest / "half.flac").write_bytes(b"")
    install_archive(whole, "LibriSpeech/dev-clean", dest)
    assert is_complete(dest) and not (dest / "half.flac").exists()
    assert len(list(dest.rglob("*.flac"))) == 4


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/evil.txt", "link"])
def test_unsafe_archive_members_are_refused(tmp_path, name):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        if name == "link":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        else:
            info.size = 4
        tar.addfile(info, io.BytesIO(b"evil") if name != "link" else None)
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(buf.getvalue())
    with pytest.raises(DownloadError, match="bad.tar.gz: (unsafe path|refusing)"):
        install_archive(bad, "x", tmp_path / "x")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "x").exists()


def test_cli_download_with_checksum_file(server, archive, tmp_path, capsys):
    data, sha = archive
    server.files["/dev-clean.tar.gz"] = data
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(f"{sha}  dev-clean.tar.gz\n")
    args = ["download", "librispeech", str(tmp_path / "d"), "--base-url", server.url]
    assert main([*args, "--checksums", str(sums)]) == 0
    assert "dev-clean: " in capsys.readouterr().out
    sums.write_text(f"{'0' * 64}  dev-clean.tar.gz\n")
    assert main([*args, "--subsets", "dev-clean", "--checksums", str(sums)]) == 0  # complete
    server.files["/test-clean.tar.gz"] = data
    assert main([*args, "--subsets", "test-clean", "--checksums", str(sums)]) == 2
    assert "checksum mismatch" in capsys.readouterr().err


def test_mini_librispeech_subsets_are_md5_verified_over_loopback(server, tmp_path, capsys):
    """OpenSLR 31 publishes MD5s only: train-clean-5 and dev-clean-2 are checked against them."""
    from asr.data.librispeech import CHECKSUMS, subset_url

    assert subset_url("train-clean-5") == "https://www.openslr.org/resources/31/train-clean-5.tar.gz"
    assert subset_url("dev-clean") == "https://www.openslr.org/resources/12/dev-clean.tar.gz"
    assert CHECKSUMS["dev-clean-2"].startswith("md5:")
    archives = {s: make_archive(tmp_path / s, s) for s in ("train-clean-5", "dev-clean-2")}
    for subset, data in archives.items():
        server.files[f"/31/{subset}.tar.gz"] = data
    sums = {s: f"md5:{hashlib.md5(d).hexdigest()}" for s, d in archives.items()}
    dirs = download_librispeech(tmp_path / "dl", list(archives), f"{server.url}/31", sums)
    assert all(is_complete(d) for d in dirs.values())
    # the published MD5 is checked: our fake archive does not match it, and is deleted
    server.files["/31/train-clean-5.tar.gz"] = archives["train-clean-5"]
    with pytest.raises(DownloadError, match=r"train-clean-5.tar.gz: checksum mismatch \(expected "
                       r"md5 5df7d4e78065366204ca6845bb08f490, got md5 [0-9a-f]{32}\)"):
        download_librispeech(tmp_path / "other", ["train-clean-5"], f"{server.url}/31")
    assert not list((tmp_path / "other").glob("train-clean-5.tar.gz*"))
    # the CLI takes the subset names, and reports a mismatch in one line
    out = tmp_path / "cli"
    assert main(["download", "librispeech", str(out), "--subsets", "dev-clean-2",
                 "--url", f"{server.url}/31"]) == 2
    assert "checksum mismatch" in capsys.readouterr().err
