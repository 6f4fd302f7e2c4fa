"""The opt-in NNI repair: version-checked, idempotent, reversible, refuses unknown files."""

from __future__ import annotations

import shutil

import pytest

from bttackler_nni import nni_repair
from bttackler_nni.nni_repair import RepairError, RepairState


@pytest.fixture
def compat_copy(tmp_path):
    """A copy of the installed compat.js in its original state."""
    copy = tmp_path / "compat.js"
    shutil.copy2(nni_repair.compat_js_path(), copy)
    if nni_repair.state(copy) is RepairState.REPAIRED:
        nni_repair.revert(copy)
    return copy


def test_apply_moves_the_early_stop_flag_before_the_wait_and_revert_restores_the_bytes(compat_copy):
    original = compat_copy.read_bytes()
    assert nni_repair.apply(compat_copy) is True
    text = compat_copy.read_text()
    flag = text.index("this.trialJobs[trialJobId].isEarlyStopped = Boolean(isEarlyStopped);")
    assert flag < text.index("await this.v3.stopTrial(trialJobId);")
    assert nni_repair.state(compat_copy) is RepairState.REPAIRED
    assert nni_repair.revert(compat_copy) is True
    assert compat_copy.read_bytes() == original


def test_apply_and_revert_are_idempotent(compat_copy):
    assert nni_repair.apply(compat_copy) is True
    repaired = compat_copy.read_bytes()
    assert nni_repair.apply(compat_copy) is False and compat_copy.read_bytes() == repaired
    assert nni_repair.revert(compat_copy) is True
    assert nni_repair.revert(compat_copy) is False


def test_an_unknown_file_is_left_alone(compat_copy):
    compat_copy.write_text("// some other NNI build\n")
    with pytest.raises(RepairError, match="refusing to touch it"):
        nni_repair.apply(compat_copy)
    assert compat_copy.read_text() == "// some other NNI build\n"


def test_another_nni_version_is_refused(compat_copy, monkeypatch):
    monkeypatch.setattr("nni.__version__", "3.1")
    with pytest.raises(RepairError, match="written for NNI 3.0; installed is NNI 3.1"):
        nni_repair.apply(compat_copy)


def test_crlf_line_endings_are_kept(compat_copy):
    crlf = compat_copy.read_bytes().replace(b"\n", b"\r\n")
    compat_copy.write_bytes(crlf)
    assert nni_repair.apply(compat_copy) is True
    repaired = compat_copy.read_bytes()
    assert b"bttackler-nni repair" in repaired and repaired.count(b"\n") == repaired.count(b"\r\n")
    assert nni_repair.revert(compat_copy) is True and compat_copy.read_bytes() == crlf


def test_a_symlink_stays_a_symlink_and_its_target_is_repaired(compat_copy, tmp_path):
    link = tmp_path / "link.js"
    link.symlink_to(compat_copy)
    assert nni_repair.apply(link) is True
    assert link.is_symlink() and nni_repair.state(compat_copy) is RepairState.REPAIRED


def test_a_file_that_is_not_utf8_is_refused_in_one_line(compat_copy):
    compat_copy.write_bytes(b"\xff\xfe not text")
    with pytest.raises(RepairError, match="is not UTF-8 text") as raised:
        nni_repair.apply(compat_copy)
    assert "\n" not in str(raised.value) and compat_copy.read_bytes() == b"\xff\xfe not text"
