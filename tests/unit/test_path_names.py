"""A path in a message, named on one line (probe of 2026-12-06): a file name holding a line
break made every error naming it two lines (`cannot read no` / `such.csv: no such file`),
one a log or CSV cell reading it took for two, and a right-to-left override showed the rest
of the line backwards. Every message naming an input or output path now names it through
`shared.names.shown`: as it is when ordinary, else as bash's `$'...'` writes it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditstream.cli import main
from shared.schemas import CONTROL_CHARACTERS

HEADER = "transaction_id,customer_id,timestamp,amount,country,channel,device,merchant_category,ip"
_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|[nrt\\'])")
_SIMPLE = {"n": b"\n", "r": b"\r", "t": b"\t", "\\": b"\\", "'": b"'"}


def _bytes_of(text: str) -> bytes:
    """The name a shown text stands for (bash's `$'...'` rules, those `shown` writes)."""
    if not text.startswith("$'"):
        return os.fsencode(text)
    assert text.endswith("'")
    body, out, at = text[2:-1], bytearray(), 0
    for found in _ESCAPE.finditer(body):
        plain = body[at:found.start()]
        assert "\\" not in plain and "'" not in plain, text
        out += plain.encode("utf-8")
        code = found.group(1)
        out += bytes([int(code[1:], 16)]) if code[0] == "x" else _SIMPLE[code]
        at = found.end()
    assert "\\" not in body[at:] and "'" not in body[at:], text
    return bytes(out + body[at:].encode("utf-8"))


_NAMES = st.binary(min_size=1, max_size=40).filter(lambda b: b"\0" not in b)


@given(_NAMES)
def test_any_name_is_shown_on_one_line_and_stands_for_itself(name: bytes) -> None:
    from shared.names import shown

    path = Path(os.fsdecode(name))
    text = shown(path)
    assert text.splitlines() == [text] and CONTROL_CHARACTERS.search(text) is None, text
    assert re.search("[\ud800-\udfff]", text) is None, text  # writable as UTF-8
    assert _bytes_of(text) == os.fsencode(path)  # unambiguous: back to its very bytes


@given(st.text(st.characters(blacklist_categories=("Cs", "Cc"),
                             blacklist_characters="\\'\0"), min_size=1))
def test_an_ordinary_name_is_shown_as_it_is(name: str) -> None:
    from shared.names import shown

    if CONTROL_CHARACTERS.search(name) is None:
        assert shown(name) == name


def test_a_name_no_byte_decodes_to_is_shown_by_its_utf8_bytes() -> None:
    """A lone surrogate outside the file system decoding's (from a JSON setting such as
    PRODUCER_FILES='["\\ud800.csv"]'), which `os.fsencode` refuses: shown by its UTF-8
    bytes, not an error raised while an error is told."""
    from shared.names import shown

    assert shown("\ud800.csv") == "$'\\xed\\xa0\\x80.csv'"


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
@pytest.mark.parametrize("name", [b"no\nsuch.csv", b"tab\there", b"it's", b"back\\slash",
                                  b"caf\xe9.csv", "x\u202egnp.csv".encode(), b"cr\rlf\n"])
def test_bash_reads_a_shown_name_back_as_the_name(name: bytes) -> None:
    from shared.names import shown

    out = subprocess.run(["bash", "-c", f"printf %s {shown(os.fsdecode(name))}"],
                         capture_output=True, check=True, env={"LC_ALL": "C"})
    assert out.stdout == name


NL = "no\nsuch"


def _bad_header(tmp_path: Path) -> Path:
    f = tmp_path / "bad\nhdr.csv"
    f.write_text("a,b\n1,2\n", "utf-8")
    return f


def _folder(tmp_path: Path) -> Path:
    d = tmp_path / "dir\nx"
    d.mkdir()
    return d


def _twice(tmp_path: Path) -> list[str]:
    f = tmp_path / "tw\nice.csv"
    f.write_text(HEADER + "\n", "utf-8")
    return ["replay", str(f), str(f)]


CASES: dict[str, Callable[[Path], list[str]]] = {
    "replay, missing": lambda t: ["replay", str(t / f"{NL}.csv")],
    "replay, bad header": lambda t: ["replay", str(_bad_header(t))],
    "replay, given twice": _twice,
    "score, missing": lambda t: ["score", str(t / f"{NL}.csv"), "--out", str(t / "o")],
    "score, bad header": lambda t: ["score", str(_bad_header(t)), "--out", str(t / "o")],
    "review import, missing": lambda t: ["review", "import", str(t / f"{NL}.csv")],
    "review import, a folder": lambda t: ["review", "import", str(_folder(t))],
    "generate, no folder": lambda t: ["generate", "--out", str(t / NL / "x.csv")],
    "generate, a folder": lambda t: ["generate", "--out", str(_folder(t))],
    "dashboard report, missing": lambda t: ["dashboard", "report", str(t / NL)],
    "dashboard report, no exports": lambda t: ["dashboard", "report", str(_folder(t))],
    "dashboard sample, no folder": lambda t: ["dashboard", "sample", str(t / NL / "s")],
    "dashboard build, no folder": lambda t: ["dashboard", "build", "--out", str(t / NL / "b")],
    "sink, no folder": lambda t: ["sink", "--exports", str(t / NL / "e"), "--once"],
}


@pytest.mark.parametrize("case", CASES)
def test_an_error_names_a_path_with_a_line_break_on_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    argv = CASES[case](tmp_path)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("auditstream ") and "$'" in err and "\\n" in err, err


def test_a_file_name_ending_in_a_slash_is_named_on_one_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["generate", "--out", "a\nb/"])
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "auditstream generate: error: argument --out: $'a\\nb/' names a folder (it ends in "
        "'/', '.' or '..'); give a file name, such as $'a\\nb/data.csv'")


def test_replay_names_its_rejects_report_on_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from producer.app import PublishReport

    f = tmp_path / "re\njects.csv"
    f.write_text(HEADER + "\nT1,c1,2025-01-01 10:00:00,x,NL,web,d1,grocery,1.2.3.4\n"
                 "T2,c1,2025-01-01 11:00:00,1.5,NL,web,d1,grocery,1.2.3.4\n", "utf-8")
    def publish(records: object, _settings: object, total: int, *_: object) -> PublishReport:
        n = len(list(records))  # type: ignore[call-overload]
        return PublishReport(total, sent=n, delivered=n)

    monkeypatch.setattr("producer.replay.publish", publish)
    assert main(["replay", str(f)]) == 1
    err = capsys.readouterr().err
    here = str(tmp_path).replace("\\", "\\\\")
    assert f"  rejects written to $'{here}/re\\njects.rejects.csv'\n" in err, err
    assert "\njects" not in err, err
    assert f"$'{here}/re\\njects.csv':2: amount" in caplog.text  # the log line naming the bad row
    assert "\njects" not in caplog.text
