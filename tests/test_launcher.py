"""Loading, overriding and checking experiment configs before anything is launched."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from nni_harness import DIGITS_CONFIG, bttackler

from bttackler_nni.launcher import LaunchError, check_config, load_config, nnictl_environment


def test_relative_paths_are_resolved_against_the_config_folder():
    config = load_config(DIGITS_CONFIG)
    assert config["trialCodeDirectory"] == str(DIGITS_CONFIG.parents[2] / "examples" / "digits")
    assert config["searchSpaceFile"] == str(DIGITS_CONFIG.parent / "search_space.json")
    assert config["assessor"]["codeDirectory"] == str(DIGITS_CONFIG.parents[2])
    check_config(config)


def test_overrides_are_merged_as_yaml_values(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(
        DIGITS_CONFIG,
        [
            "maxTrialNumber=3",
            "tuner.classArgs.tuner_args.seed=7",
            "assessor.classArgs.indicators.NMG=false",
            "searchSpaceFile=space.json",
        ],
    )
    assert config["maxTrialNumber"] == 3
    assert config["tuner"]["classArgs"]["tuner_args"] == {
        "optimize_mode": "maximize",
        "tpe_args": {"n_startup_jobs": 8},
        "seed": 7,
    }
    assert config["assessor"]["classArgs"] == {"indicators": {"NMG": False}}
    assert config["searchSpaceFile"] == str(tmp_path / "space.json")


@pytest.mark.parametrize(
    "override, message",
    [
        ("assessor.classArgs.patience=0", "assessor: Invalid BTTackler configuration"),
        ("tuner.classArgs.tuner=NoSuch", "tuner: BTTacklerTuner classArgs.tuner = 'NoSuch'"),
        ("trialConcurrency=0", "NNI rejects the experiment config"),
    ],
)
def test_bad_configs_fail_before_launch_with_the_reason(override, message):
    with pytest.raises(LaunchError, match=message.replace(".", r"\.")):
        check_config(load_config(DIGITS_CONFIG, [override]))


def test_malformed_override_and_missing_file_are_explained(tmp_path):
    with pytest.raises(LaunchError, match="must look like key.path=value"):
        load_config(DIGITS_CONFIG, ["maxTrialNumber"])
    with pytest.raises(LaunchError, match="no experiment config at"):
        load_config(tmp_path / "missing.yml")


def test_check_command_exit_codes(tmp_path):
    env = nnictl_environment()
    assert bttackler("check", str(DIGITS_CONFIG), env=env).returncode == 0
    failed = bttackler("check", str(DIGITS_CONFIG), "--set", "assessor.classArgs.patienc=2", env=env)
    assert failed.returncode == 1 and "did you mean 'patience'" in failed.stderr


def test_trial_python_is_this_interpreters():
    assert nnictl_environment({"PATH": "/usr/bin"})["PATH"].split(":")[0] == str(Path(sys.executable).parent)
