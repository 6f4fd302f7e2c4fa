"""Loading, overriding and checking experiment configs before anything is launched."""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path

import pytest
from nni_harness import DIGITS_CONFIG, bttackler

from bttackler_nni.experiments import launch
from bttackler_nni.experiments.config import ExperimentConfigError, check_config, load_config
from bttackler_nni.experiments.launch import free_port, nnictl_environment


def test_relative_paths_are_resolved_against_the_config_folder():
    config = load_config(DIGITS_CONFIG)
    assert config["trialCodeDirectory"] == str(DIGITS_CONFIG.parents[2] / "examples" / "digits")
    assert config["searchSpaceFile"] == str(DIGITS_CONFIG.parent / "search_space.json")
    assert config["assessor"]["codeDirectory"] == str(DIGITS_CONFIG.parents[2])
    check_config(config)


def test_overrides_are_set_as_yaml_values(tmp_path, monkeypatch):
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


def test_a_mapping_override_replaces_the_files_mapping_at_its_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(
        DIGITS_CONFIG,
        [
            "tuner={name: Random, classArgs: {seed: 3}}",  # merged, it would keep className beside name
            "assessor.classArgs.indicators={EAG: {grad_max: 100}}",
            "maxTrialNumber.x=1",  # a key under a scalar: the scalar gives way
        ],
    )
    assert config["tuner"] == {"name": "Random", "classArgs": {"seed": 3}}
    assert config["assessor"]["classArgs"] == {"indicators": {"EAG": {"grad_max": 100}}}
    assert config["assessor"]["className"] == "bttackler_nni.BTTacklerAssessor"  # beside it: kept
    assert config["maxTrialNumber"] == {"x": 1}
    check_config(load_config(DIGITS_CONFIG, ["tuner={name: Random, classArgs: {seed: 3}}"]))


@pytest.mark.parametrize(
    "override, message",
    [
        ("assessor.classArgs.patience=0", "assessor: Invalid BTTackler configuration"),
        ("tuner.classArgs.tuner=NoSuch", "tuner: BTTacklerTuner classArgs.tuner = 'NoSuch'"),
        ("trialConcurrency=0", "trialConcurrency = 0: NNI requires `trial_concurrency > 0`"),
        ("maxTrialNumber=-5", "maxTrialNumber = -5: NNI requires `max_trial_number is None or"),
        ("tuner=3", "tuner: must be a mapping, e.g. `tuner: {name: ...}`"),
        (
            "tuner.name=TPE",
            "tuner: has both name ('TPE') and className ('bttackler_nni.BTTacklerTuner'); give one",
        ),
        ("tuner={classArgs: {}}", "tuner: names no algorithm. Fix: `name:` for a built-in or registered"),
        ("tuner={name: TPE, codeDirectory: .}", "tuner.codeDirectory: goes with className; NNI finds"),
        (
            "tuner={name: Hyperband}",  # builds in NNI's dispatcher, then dies at the first metric
            "tuner.name: Hyperband: NNI 3.0's Hyperband dies at its first metric",
        ),
        (
            "tuner={name: gp, classArgs: {optimize_mode: maximize}}",  # NNI's: proposes, dies after 10 trials
            "tuner.name: gp: NNI 3.0's GP dies after its cold start with SciPy>=1.11 and numpy 2 (at once "
            "with a randint). Fix: use this package's GP: `name: BTTacklerGP`",
        ),
        (
            "tuner.classArgs={tuner: BOHB}",
            "tuner: BTTacklerTuner classArgs.tuner = 'BOHB': NNI 3.0's BOHB dies at its first metric",
        ),
        (
            "tuner={name: Anneal}",  # refused for numpy 2 before hyperopt is even missed
            "tuner.name: Anneal: numpy 2.",
        ),
        (
            "tuner.classArgs={tuner: dngo}",
            "tuner: BTTacklerTuner classArgs.tuner = 'dngo': cannot be built here (ModuleNotFoundError: No "
            "module named 'pybnn'). NNI 3.0's DNGO needs pybnn. Fix: pip install --no-deps pybnn emcee",
        ),
        (
            "tuner={name: MetisTuner, classArgs: {optimize_mode: maximize}}",
            "tuner.name: MetisTuner: numpy 2.",  # builds and proposes, then stops the dispatcher
        ),
        ("trainingService.platform=nope", "trainingService.platform: 'nope' is not a training service"),
        ("trainingService=null", "the config has no trainingService. Fix: add `trainingService: "),
        (
            "assessor.classArgs.direction=minimize",
            "assessor.classArgs.direction = minimize, but the tuner's optimize_mode is maximize: BTTackler "
            "would rank trials backwards. Fix: set assessor.classArgs.direction: maximize",
        ),
    ],
)
def test_bad_configs_fail_before_launch_with_the_reason(override, message):
    with pytest.raises(ExperimentConfigError, match=re.escape(message)):
        check_config(load_config(DIGITS_CONFIG, [override]))


@pytest.mark.parametrize("key", ["searchSpaceFile", "trialCodeDirectory", "assessor.codeDirectory"])
def test_a_path_under_the_home_of_no_such_user_names_the_key(key):
    with pytest.raises(
        ExperimentConfigError, match=f"^{re.escape(key)}: ~nosuchuser/x: ~nosuchuser names no user"
    ):
        load_config(DIGITS_CONFIG, [f"{key}=~nosuchuser/x"])


@pytest.mark.parametrize("tuner", [{"name": "TPE"}, {"name": "tpe", "classArgs": {"seed": 1}}])
def test_tpe_without_an_optimize_mode_minimizes_so_an_accuracy_assessor_is_refused(tuner):
    config = load_config(DIGITS_CONFIG)
    config["tuner"] = tuner
    message = (
        "assessor.classArgs.direction = maximize (the default), but the tuner's optimize_mode is minimize "
        "(its default: its classArgs give none): BTTackler would rank trials backwards. Fix: set "
        "assessor.classArgs.direction: minimize, or give the tuner optimize_mode: maximize"
    )
    with pytest.raises(ExperimentConfigError, match=re.escape(message)):
        check_config(config)


def test_an_assessor_without_a_direction_follows_the_tuners_stated_optimize_mode():
    config = load_config(DIGITS_CONFIG, ["tuner.classArgs.tuner_args.optimize_mode=minimize"])
    check_config(config)  # the assessor will rank to minimize, as the tuner optimizes
    config["assessor"]["classArgs"] = {"direction": "maximize"}
    with pytest.raises(ExperimentConfigError, match=r"direction = maximize, but the tuner's optimize_mode"):
        check_config(config)


def test_malformed_override_and_missing_file_are_explained(tmp_path):
    with pytest.raises(ExperimentConfigError, match="must look like key.path=value"):
        load_config(DIGITS_CONFIG, ["maxTrialNumber"])
    with pytest.raises(ExperimentConfigError, match="no experiment config at"):
        load_config(tmp_path / "missing.yml")


@pytest.mark.parametrize(
    "section, replaced, message",
    [
        (
            "tuner",
            {
                "classArgs": {
                    "tuner": "TPE",
                    "tuner_args": {"optimize_mode": "maximize", "tpe_args": {"n_startup_jobs": "abc"}},
                }
            },
            "tuner.classArgs.tuner_args or searchSpaceFile: TPE fails on the search space or when asked "
            "for parameters: TypeError: '<' not supported",
        ),
        (
            "tuner",
            {"classArgs": {"tuner": "TPE", "tuner_args": {"optimize_mode": "maxx"}}},
            "tuner: BTTacklerTuner classArgs.tuner_args = .* TPE rejects them .*'maxx' is not a valid",
        ),
        (
            "tuner",
            {"name": "Random", "classArgs": {"nosuch": 1}},
            "tuner.classArgs: Random cannot be built with {'nosuch': 1}: TypeError",
        ),
        (
            "assessor",
            {"name": "Medianstop", "classArgs": {"nosuch": 1}},
            "assessor.classArgs: Medianstop cannot be built with {'nosuch': 1}: TypeError",
        ),
    ],
)
def test_check_builds_and_exercises_the_algorithms_as_the_dispatcher_will(section, replaced, message):
    config = load_config(DIGITS_CONFIG)
    if "name" in replaced:
        config[section] = replaced
    else:
        config[section].update(replaced)
    with pytest.raises(ExperimentConfigError, match=message) as raised:
        check_config(config)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("section", "name", "class_path"),
    [
        ("assessor", "BTTackler", "bttackler_nni.BTTacklerAssessor"),
        ("tuner", "bttacklertuner", "BTTacklerTuner"),
    ],
)
def test_our_names_before_bttackler_register_fail_the_check_with_the_fix(
    section, name, class_path, tmp_path, monkeypatch
):
    monkeypatch.setenv("NNI_CONFIG_DIR", str(tmp_path))  # an NNI where nothing was registered
    config = load_config(DIGITS_CONFIG)
    config[section] = {"name": name, "classArgs": config[section]["classArgs"]}
    with pytest.raises(ExperimentConfigError, match=f"{section}.name: {name} is not registered") as raised:
        check_config(config)
    assert "run `bttackler register` once" in str(raised.value) and class_path in str(raised.value)


def test_a_search_space_that_is_not_json_fails_the_check(tmp_path):
    space = tmp_path / "space.json"
    space.write_text("{'lr': nope}")
    with pytest.raises(ExperimentConfigError, match=f"searchSpaceFile {space} is not valid JSON: Expecting"):
        check_config(load_config(DIGITS_CONFIG, [f"searchSpaceFile={space}"]))


def test_a_search_space_the_tuner_rejects_fails_the_check(tmp_path):
    space = tmp_path / "space.json"
    space.write_text('{"lr": {"_type": "choice", "_value": []}}')
    message = "searchSpaceFile: TPE fails on the search space .* AssertionError: at formatting.py:[0-9]+"
    with pytest.raises(ExperimentConfigError, match=message):
        check_config(load_config(DIGITS_CONFIG, [f"searchSpaceFile={space}"]))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "x=[1"], "override 'x=[1': the value is not valid YAML"),
        (["--set", "tuner.classArgs.tuner_args.optimize_mode=maxx"], "TPE rejects them"),
    ],
)
def test_check_command_reports_bad_input_in_one_line_without_a_traceback(args, message):
    result = bttackler("check", str(DIGITS_CONFIG), *args, env=nnictl_environment())
    assert result.returncode == 1 and message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_invalid_yaml_is_one_line(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("tuner: [unclosed\n")
    result = bttackler("check", str(broken), env=nnictl_environment())
    assert result.returncode == 1 and f"{broken} is not valid YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_taken_port_is_one_line_before_anything_starts():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = bttackler("run", str(DIGITS_CONFIG), "--port", str(port), env=nnictl_environment())
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"bttackler: port {port} is in use (another NNI experiment?); give another --port, "
        "or leave --port out to take a free one"
    )


def test_free_ports_are_drawn_below_the_ephemeral_range_and_never_taken():
    low, _ = launch._ephemeral_ports()
    ports = {free_port() for _ in range(20)}
    assert all(1024 <= p < low for p in ports) and len(ports) > 1  # drawn at random
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports.pop()))
        assert not launch._bindable(holder.getsockname()[1])


def test_check_command_exit_codes(tmp_path):
    env = nnictl_environment()
    assert bttackler("check", str(DIGITS_CONFIG), env=env).returncode == 0
    failed = bttackler("check", str(DIGITS_CONFIG), "--set", "assessor.classArgs.patienc=2", env=env)
    assert failed.returncode == 1 and "did you mean 'patience'" in failed.stderr


def test_trial_python_is_this_interpreters():
    assert nnictl_environment({"PATH": "/usr/bin"})["PATH"].split(":")[0] == str(Path(sys.executable).parent)


def test_an_nnictl_that_does_not_answer_in_time_is_a_launch_error_not_a_traceback():
    # Starting Python and importing NNI alone takes far longer than 10 ms.
    with pytest.raises(launch.LaunchTimeout, match=r"`nnictl experiment list` did not finish within 0.01 s"):
        launch.nnictl("experiment", "list", timeout=0.01)


def test_this_packages_gp_failing_on_a_search_space_is_not_given_nni_gps_fix(monkeypatch):
    from bttackler_nni.tuners import GPTuner

    def fails(*_args, **_kwargs):
        raise RuntimeError("no point proposed")

    monkeypatch.setattr(GPTuner, "generate_multiple_parameters", fails)
    config = load_config(
        DIGITS_CONFIG, ["tuner.classArgs={tuner: GP, tuner_args: {optimize_mode: maximize}}"]
    )
    with pytest.raises(ExperimentConfigError) as raised:
        check_config(config)
    assert (
        "GP fails on the search space or when asked for parameters: RuntimeError: no point proposed"
        in str(raised.value)
    )
    assert "NNI 3.0's GP" not in str(raised.value) and "Fix: check GP's classArgs" in str(raised.value)
