"""The extra tuners' names, their search-space checks, at dispatcher start and in ``bttackler check``."""

from __future__ import annotations

import base64
import http.server
import json
import socket
import subprocess
import sys
import threading

import pytest
import yaml

from bttackler_nni import BTTacklerTuner
from bttackler_nni.diagnosis.config import ConfigError
from bttackler_nni.experiments.config import ExperimentConfigError, check_config, load_config
from bttackler_nni.tuners import SearchSpaceError, tuner_class
from bttackler_nni.tuners.gp import GPTuner
from bttackler_nni.tuners.search_space import dispatcher_search_space
from bttackler_nni.tuners.smac import SMACTuner

GOOD = {
    "lr": {"_type": "loguniform", "_value": [1e-4, 0.1]},
    "act": {"_type": "choice", "_value": ["a", "b"]},
}
NORMAL = {**GOOD, "wd": {"_type": "normal", "_value": [0.0, 1.0]}}
NESTED = {
    "layer": {
        "_type": "choice",
        "_value": [{"_name": "none"}, {"_name": "conv", "k": {"_type": "qnormal", "_value": [3, 1, 1]}}],
    }
}


@pytest.fixture
def nni_manager():
    """A stand-in for NNI's manager web server: serves ``/<prefix>/api/v1/nni/experiment`` on 127.0.0.1."""
    served: dict = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"id": "x", "params": {"searchSpace": served["space"]}}).encode()
            found = self.path == f"{served['prefix']}/api/v1/nni/experiment"
            self.send_response(200 if found else 404)
            self.end_headers()
            self.wfile.write(body if found else b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def channel(space, prefix: str = "") -> str:
        served.update(space=space, prefix=prefix)
        return f"ws://127.0.0.1:{server.server_address[1]}{prefix}/tuner"

    yield channel
    server.shutdown()
    thread.join()


@pytest.mark.parametrize(
    "tuner, space, parameter, kind",
    [
        ("GP", NORMAL, "wd", "normal"),
        ("GP", NESTED, "layer", "nested choice"),
        ("SMAC", {**GOOD, "m": {"_type": "mutable_layer", "_value": [1]}}, "m", "mutable_layer"),
        (
            "SMAC",
            {
                "layer": {
                    "_type": "choice",
                    "_value": [{"_name": "a", "u": {"_type": "unif", "_value": [0, 1]}}],
                }
            },
            "layer[a].u",
            "unif",
        ),
    ],
)
def test_a_type_the_tuner_cannot_handle_is_one_line_naming_parameter_and_type(tuner, space, parameter, kind):
    with pytest.raises(SearchSpaceError) as raised:
        tuner_class(tuner)().update_search_space(space)
    message = str(raised.value)
    assert "\n" not in message
    assert f"parameter {parameter!r} has type {kind!r}" in message and f"the {tuner} tuner" in message


def test_smac_takes_every_nni_type_and_nested_choices_gp_the_bounded_ones():
    every = {
        t: {"_type": t, "_value": [1, 2, 1] if t.startswith("q") else [1, 2]}
        for t in (
            "uniform",
            "quniform",
            "loguniform",
            "qloguniform",
            "normal",
            "qnormal",
            "lognormal",
            "qlognormal",
        )
    }
    every["r"] = {"_type": "randint", "_value": [1, 5]}
    SMACTuner.check_search_space({**every, **NESTED, **GOOD})
    GPTuner.check_search_space({k: v for k, v in every.items() if "normal" not in k} | GOOD)


def test_a_malformed_spec_is_reported_with_its_path_and_nni_reason():
    with pytest.raises(SearchSpaceError, match=r"parameter 'lr'.*must have high > low"):
        GPTuner.check_search_space({"lr": {"_type": "uniform", "_value": [1, 0]}})
    with pytest.raises(SearchSpaceError, match=r"parameter 'lr' must be an object"):
        SMACTuner.check_search_space({"lr": [0, 1]})


def test_in_the_dispatcher_the_search_space_comes_from_nnis_manager(nni_manager):
    assert dispatcher_search_space({"NNI_TUNER_COMMAND_CHANNEL": nni_manager(GOOD)}) == GOOD
    assert dispatcher_search_space({"NNI_TUNER_COMMAND_CHANNEL": nni_manager(NORMAL, "/lab")}) == NORMAL
    assert dispatcher_search_space({}) is None  # not NNI's dispatcher


def test_without_the_manager_the_search_space_file_on_the_command_line_is_read(tmp_path):
    (tmp_path / "space.json").write_text(json.dumps(GOOD))
    config = {"searchSpaceFile": str(tmp_path / "space.json"), "trialConcurrency": 1}
    argv = ["nni/__main__.py", "--exp_params", base64.b64encode(json.dumps(config).encode()).decode()]
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        environ = {"NNI_TUNER_COMMAND_CHANNEL": f"ws://127.0.0.1:{closed.getsockname()[1]}/tuner"}
        assert dispatcher_search_space(environ, argv) == GOOD
        assert dispatcher_search_space(environ, ["nni/__main__.py"]) is None


@pytest.mark.parametrize("tuner", ["GP", "SMAC"])
def test_in_the_dispatcher_the_constructor_refuses_the_search_space(tuner, nni_manager, monkeypatch):
    space = NORMAL if tuner == "GP" else {"m": {"_type": "mutable_layer", "_value": [1]}}
    monkeypatch.setenv("NNI_TUNER_COMMAND_CHANNEL", nni_manager(space))
    with pytest.raises(SearchSpaceError, match="has type"):
        tuner_class(tuner)()
    with pytest.raises(SearchSpaceError, match="has type"):
        BTTacklerTuner(tuner, {})  # wrapped: the same error, from the same place, before the guard
    nni_manager(GOOD)
    assert type(BTTacklerTuner(tuner, {}).inner).__name__ == f"{tuner}Tuner"


def test_the_wrapper_builds_our_gp_and_smac_and_leaves_the_others_to_nni():
    assert isinstance(BTTacklerTuner("GP", {"optimize_mode": "minimize"}).inner, GPTuner)
    assert isinstance(BTTacklerTuner("SMAC", {"seed": 1}).inner, SMACTuner)
    assert type(BTTacklerTuner("TPE", {}).inner).__module__.startswith("nni.algorithms")
    with pytest.raises(ConfigError, match=r"classArgs.tuner = 'NoSuchTuner'.*Fix: name a tuner"):
        BTTacklerTuner("NoSuchTuner", {})


def test_bad_class_args_fail_in_the_constructor_with_the_fix():
    with pytest.raises(ConfigError, match="utility = 'best'. Fix: one of ei, ucb, poi"):
        GPTuner(utility="best")
    with pytest.raises(ConfigError, match="initial_configs = 0"):
        SMACTuner(initial_configs=0)
    with pytest.raises(ConfigError, match="^GP tuner optimize_mode = 'max'. Fix: maximize or minimize$"):
        BTTacklerTuner("GP", {"optimize_mode": "max"})  # our one-line message, unchanged by the wrapper
    with pytest.raises(ConfigError, match=r"classArgs.tuner_args = \{'tpe_args': \{\}\}: SMAC rejects them"):
        BTTacklerTuner("SMAC", {"tpe_args": {}})


def test_bttackler_check_reports_the_unsupported_parameter_before_launch(tmp_path):
    (tmp_path / "space.json").write_text(json.dumps(NORMAL))
    (tmp_path / "train.py").write_text("")
    config = {
        "searchSpaceFile": "space.json",
        "trialCommand": "python train.py",
        "trialConcurrency": 1,
        "tuner": {"className": "bttackler_nni.BTTacklerTuner", "classArgs": {"tuner": "GP"}},
        "trainingService": {"platform": "local"},
    }
    (tmp_path / "exp.yml").write_text(yaml.safe_dump(config))
    wrapped, plain = load_config(tmp_path / "exp.yml"), load_config(tmp_path / "exp.yml")
    plain["tuner"] = {"className": "bttackler_nni.tuners.GPTuner", "codeDirectory": str(tmp_path)}
    for config in (wrapped, plain):
        with pytest.raises(ExperimentConfigError) as raised:
            check_config(config)
        assert str(raised.value) == (
            "searchSpace: search space parameter 'wd' has type 'normal', which the GP tuner cannot handle. "
            "Fix: give it one of the types choice, randint, uniform, quniform, loguniform, qloguniform, "
            "or use the TPE or SMAC tuner"
        )
    check_config(load_config(tmp_path / "exp.yml", ["tuner.classArgs.tuner=SMAC"]))


def test_importing_the_package_imports_no_tuner_library():
    code = (
        "import sys, bttackler_nni, bttackler_nni.tuners; "
        "print(sorted(m for m in ('smac', 'ConfigSpace', 'nni.algorithms.hpo.gp_tuner') if m in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
