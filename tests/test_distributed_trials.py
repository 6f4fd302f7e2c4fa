"""Trials that train in two processes (DDP, gloo on CPU), started by ``torchrun`` under real NNI 3.0.

Each process calls ``bttackler_nni.get_next_parameter()`` and attaches a Reporter; NNI must see one
record per epoch (the main process's), and the assessor's stop must end every process of the trial.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import psutil
import pytest
from nni_harness import REPO, isolated_nni, only_experiment

from bttackler_nni.evaluation.summary import failed_trials_note
from bttackler_nni.experiments.config import check_config, load_config
from bttackler_nni.experiments.launch import launched, wait
from bttackler_nni.trial.distributed import HANDOFF_FILE, is_main_process

EPOCHS = 30

TRIAL = textwrap.dedent(
    f"""
    import os, time
    from pathlib import Path

    import torch
    import torch.distributed as dist
    from torch import nn

    import bttackler_nni
    from bttackler_nni import Reporter

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    params = bttackler_nni.get_next_parameter()
    folder = Path(os.environ["NNI_OUTPUT_DIR"])
    (folder / f"rank{{rank}}.pid").write_text(str(os.getpid()))
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1)))
    optimizer = torch.optim.SGD(model.parameters(), lr=params["lr"])
    reporter = Reporter(model, optimizer, max_epochs={EPOCHS})
    generator = torch.Generator().manual_seed(rank)  # each process its own shard
    x = torch.randn(256, 8, generator=generator)
    y = x.sum(1, keepdim=True)
    for epoch in range({EPOCHS}):
        for batch in range(8):
            optimizer.zero_grad()
            loss = ((model(x[batch::8]) - y[batch::8]) ** 2).mean()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            val_loss = ((model(x) - y) ** 2).mean()
        dist.all_reduce(val_loss)  # the mean over the processes' shards
        val_loss = val_loss / dist.get_world_size()
        (folder / f"rank{{rank}}.records").open("a").write(str(epoch) + "\\n")
        reporter.end_epoch(train_loss=loss, val_loss=val_loss, default=-val_loss)
        time.sleep(0.3)  # the training time of a real epoch, in which a stop arrives
    reporter.finish()
    dist.destroy_process_group()
    """
)


@pytest.mark.nni
def test_a_two_process_trial_reports_once_per_epoch_and_a_stop_ends_every_process(tmp_path):
    (tmp_path / "trial.py").write_text(TRIAL)
    (tmp_path / "space.json").write_text(json.dumps({"lr": {"_type": "choice", "_value": [0.02, 1e-7]}}))
    config_file = tmp_path / "config.yml"
    config_file.write_text(
        textwrap.dedent(
            f"""
            searchSpaceFile: space.json
            trialCommand: exec python -m torch.distributed.run --standalone --nproc_per_node 2 trial.py
            trialConcurrency: 2
            maxTrialNumber: 2
            tuner: {{name: GridSearch}}
            assessor: {{codeDirectory: {REPO}, className: bttackler_nni.BTTacklerAssessor,
                        classArgs: {{direction: maximize}}}}
            trainingService: {{platform: local}}
            """
        )
    )
    config = load_config(config_file, [])
    check_config(config)
    with isolated_nni(tmp_path / "nni") as env, launched(config, env) as running:
        wait(running, timeout=300)
        experiment = only_experiment(env)
        pids = {
            trial.id: [int(p.read_text()) for p in experiment.trial_log_dir(trial.id).glob("rank*.pid")]
            for trial in experiment.trials
        }
        alive = {trial: [pid for pid in trial_pids if _alive(pid)] for trial, trial_pids in pids.items()}

    by_lr = {trial.parameters["lr"]: trial for trial in experiment.trials}
    healthy, flat = by_lr[0.02], by_lr[1e-7]
    assert healthy.status == "SUCCEEDED", healthy
    assert [record["epoch"] for record in healthy.intermediate] == list(range(EPOCHS))  # once each
    assert healthy.final is not None and healthy.final == healthy.intermediate[-1]["default"]
    assert flat.stopped_by_bttackler and flat.stop_verdict.reason.indicator == "PLC", flat
    # torchrun turns NNI's SIGINT into exit code 1, which NNI records as FAILED: not a failure to us
    assert flat.status == "FAILED" and not flat.failed
    assert failed_trials_note(experiment) == []
    assert len(flat.intermediate) < EPOCHS
    for trial in (healthy, flat):
        folder = experiment.trial_log_dir(trial.id)
        assert len(pids[trial.id]) == 2 and (folder / HANDOFF_FILE).exists()
        assert alive[trial.id] == [], f"processes of {trial.id} outlived it"
    assert "Traceback" not in (experiment.trial_log_dir(healthy.id) / "trial.stderr").read_text()
    # the stop reached both processes while they trained: each ended within an epoch of the stop
    flat_folder = experiment.trial_log_dir(flat.id)
    trained = [len((flat_folder / f"rank{r}.records").read_text().split()) for r in (0, 1)]
    assert max(trained) <= len(flat.intermediate) + 1 < EPOCHS, trained


LIGHTNING_TRIAL = textwrap.dedent(
    """
    import json, os
    from pathlib import Path

    import lightning.pytorch as pl
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    import bttackler_nni
    from bttackler_nni.adapters.lightning import BTTacklerCallback

    params = bttackler_nni.get_next_parameter()  # Lightning's launcher runs this script once more
    Path(os.environ["NNI_OUTPUT_DIR"], f"{os.getpid()}.json").write_text(json.dumps(params))


    class Regression(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))

        def training_step(self, batch, _):
            x, y = batch
            return ((self.net(x) - y) ** 2).mean()

        def validation_step(self, batch, _):
            x, y = batch
            self.log("val_loss", ((self.net(x) - y) ** 2).mean(), sync_dist=True)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=params["lr"])


    x = torch.randn(256, 8, generator=torch.Generator().manual_seed(0))
    data = DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=32)
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_epochs=3, callbacks=[BTTacklerCallback()],
        enable_progress_bar=False, logger=False, enable_checkpointing=False,
    )
    trainer.fit(Regression(), data, data)
    """
)


HUGGING_FACE_TRIAL = textwrap.dedent(
    """
    import json, os
    from pathlib import Path

    import torch
    import transformers
    from torch import nn

    import bttackler_nni
    from bttackler_nni.adapters.huggingface import BTTacklerTrainerCallback

    params = bttackler_nni.get_next_parameter()
    Path(os.environ["NNI_OUTPUT_DIR"], f"{os.getpid()}.json").write_text(json.dumps(params))


    class Regression(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))

        def forward(self, x, labels):
            return {"loss": ((self.net(x) - labels) ** 2).mean()}


    class Examples(torch.utils.data.Dataset):
        x = torch.randn(256, 8, generator=torch.Generator().manual_seed(0))

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return {"x": self.x[i], "labels": self.x[i].sum(0, keepdim=True)}


    args = transformers.TrainingArguments(
        output_dir=os.path.join(os.environ["NNI_OUTPUT_DIR"], "hf"), num_train_epochs=3,
        learning_rate=params["lr"], optim="sgd", per_device_train_batch_size=32, eval_strategy="epoch",
        save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True, ddp_backend="gloo",
    )
    trainer = transformers.Trainer(
        model=Regression(), args=args, train_dataset=Examples(), eval_dataset=Examples(),
        callbacks=[BTTacklerTrainerCallback()],
    )
    trainer.train()
    """
)

FRAMEWORK_TRIALS = {
    # framework: (trial script, trialCommand)
    "lightning": (LIGHTNING_TRIAL, "exec python trial.py"),  # Lightning starts the second process
    "huggingface": (
        HUGGING_FACE_TRIAL,
        "exec python -m torch.distributed.run --standalone --nproc_per_node 2 trial.py",
    ),
}


@pytest.mark.nni
@pytest.mark.parametrize("framework", FRAMEWORK_TRIALS)
def test_a_framework_ddp_trial_gets_its_parameters_in_both_processes_and_reports_once_per_epoch(
    tmp_path, framework
):
    script, command = FRAMEWORK_TRIALS[framework]
    (tmp_path / "trial.py").write_text(script)
    (tmp_path / "space.json").write_text(json.dumps({"lr": {"_type": "choice", "_value": [0.01]}}))
    config_file = tmp_path / "config.yml"
    config_file.write_text(
        f"searchSpaceFile: space.json\ntrialCommand: {command}\ntrialConcurrency: 1\n"
        "maxTrialNumber: 1\ntuner: {name: GridSearch}\ntrainingService: {platform: local}\n"
    )
    with isolated_nni(tmp_path / "nni") as env, launched(load_config(config_file, []), env) as running:
        wait(running, timeout=300)
        experiment = only_experiment(env)
    (trial,) = experiment.trials
    stderr = (experiment.trial_log_dir(trial.id) / "trial.stderr").read_text()
    assert trial.status == "SUCCEEDED", f"{trial}\n--- trial.stderr ---\n{stderr[-4000:]}"
    assert [record["epoch"] for record in trial.intermediate] == [0, 1, 2]
    assert trial.final == trial.intermediate[-1]["default"] == trial.intermediate[-1]["val_loss"]
    received = [json.loads(p.read_text()) for p in experiment.trial_log_dir(trial.id).glob("[0-9]*.json")]
    assert received == [{"lr": 0.01}, {"lr": 0.01}]


def test_processes_other_than_the_main_one_read_the_main_ones_parameters_or_say_why_not(tmp_path):
    nni_trial = {"NNI_PLATFORM": "local", "NNI_EXP_ID": "exp", "NNI_TRIAL_JOB_ID": "trial"}
    received = tmp_path / "received.json"  # NNI's trial runtime takes over the process's stdout
    wait_once = (
        "import json, sys, bttackler_nni; parameters = bttackler_nni.get_next_parameter(timeout=1); "
        "open(sys.argv[1], 'w').write(json.dumps(parameters))"
    )

    def other_process() -> subprocess.CompletedProcess:
        env = {
            "PATH": "/usr/bin:/bin",
            **nni_trial,
            "NNI_OUTPUT_DIR": str(tmp_path),
            "RANK": "1",
            "WORLD_SIZE": "2",
        }
        return subprocess.run(
            [sys.executable, "-c", wait_once, str(received)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    waited = other_process()
    assert waited.returncode != 0 and not received.exists()
    last_line = waited.stderr.strip().splitlines()[-1]
    assert last_line.startswith("TimeoutError: bttackler_nni.get_next_parameter: this process")
    assert str(tmp_path / HANDOFF_FILE) in last_line and "Fix:" in last_line

    (tmp_path / HANDOFF_FILE).write_text(json.dumps({"parameters": {"lr": 0.1}}))
    read = other_process()
    assert read.returncode == 0, read.stderr
    assert json.loads(received.read_text()) == {"lr": 0.1}


@pytest.mark.parametrize(
    ("environment", "main"),
    [
        ({}, True),  # one process, no launcher
        ({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2"}, True),  # torchrun
        ({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"}, False),
        ({"LOCAL_RANK": "1", "WORLD_SIZE": "2"}, False),  # Lightning's launcher, before any process group
        ({"LOCAL_RANK": "0", "NODE_RANK": "1", "WORLD_SIZE": "4"}, False),  # the first process of machine 2
        ({"RANK": "1"}, True),  # a stray RANK, no launcher: it must not silence the Reporter
        ({"RANK": "1", "WORLD_SIZE": "1"}, True),
    ],
)
def test_the_main_process_is_global_rank_zero_from_the_launchers_environment(monkeypatch, environment, main):
    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert is_main_process() is main


def test_a_rank_that_is_not_a_number_is_named(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "first")
    with pytest.raises(ValueError, match="RANK='first' is not a whole number"):
        is_main_process()


EXIT_GRACE = textwrap.dedent(
    """
    import sys, tempfile, threading
    from pathlib import Path

    import torch.distributed as dist
    from torch import nn

    from bttackler_nni import Reporter

    if "group" in sys.argv:
        dist.init_process_group("gloo", init_method=f"file://{tempfile.mktemp()}", rank=0, world_size=1)
    if "reporter" in sys.argv:
        Reporter(nn.Linear(2, 1), max_epochs=1, report_to_nni=False)
    sys.setswitchinterval(1000)  # the main thread keeps the GIL until it blocks, as on a loaded machine
    go = threading.Event()
    # like a gloo thread that must free a collective's tensors: it needs the GIL once the script ends
    threading.Thread(target=lambda: go.wait() and Path(sys.argv[1]).touch(), daemon=True).start()
    go.set()
    """
)


@pytest.mark.parametrize(("setting", "thread_ran"), [("group reporter", True), ("reporter", False)])
def test_a_reporter_in_a_distributed_process_lets_waiting_threads_finish_before_python_shuts_down(
    tmp_path, setting, thread_ran
):
    # Without the wait, a gloo thread that gets the GIL only during the shutdown makes torch abort
    # the process (benchmarks/distributed_exit.py). A process with no group exits without waiting,
    # and there the thread never runs: the setting makes the test fail without the wait.
    (tmp_path / "run.py").write_text(EXIT_GRACE)
    ran = tmp_path / "ran"
    ended = subprocess.run(
        [sys.executable, "run.py", str(ran), *setting.split()],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("NNI_")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ended.returncode == 0, ended.stderr[-3000:]
    assert ran.exists() is thread_ran


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def standalone_run(framework: str) -> str:
    """The framework's trial as a run outside NNI in which only the first process's rule fires at
    once (EAG, with a threshold every gradient is above), writing the epoch it ended at to OUT/<rank>."""
    script, _ = FRAMEWORK_TRIALS[framework]
    callback, ended = STANDALONE[framework][:2]
    script = re.sub(
        r"params = bttackler_nni\.get_next_parameter\(\).*\n.*\n", 'params = {"lr": 0.01}\n', script
    )
    rank = "os.environ.get('LOCAL_RANK', '0')"  # torchrun sets it, and Lightning in the processes it starts
    fires = "{'indicators': {'EAG': {'grad_max': 1e-9}}}"
    config = f"AssessorConfig.from_class_args({fires} if {rank} == '0' else {{}})"
    script = script.replace(f"{callback}()", f"{callback}(config={config})")
    script = script.replace("import bttackler_nni\n", "from bttackler_nni import AssessorConfig\n")
    ended_at = f"Path(os.environ['OUT'], {rank}).write_text(str({ended}))\n"
    return script + ended_at + "torch.distributed.destroy_process_group()\n"


STANDALONE = {
    # framework: (callback, the epoch a run ended at, command, that epoch after a stop at epoch 0)
    "lightning": ("BTTacklerCallback", "trainer.current_epoch", ["run.py"], "1"),
    "huggingface": (
        "BTTacklerTrainerCallback",
        "trainer.state.epoch",
        ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "run.py"],
        "1.0",
    ),
}


@pytest.mark.parametrize("framework", STANDALONE)
def test_outside_nni_a_stop_one_process_decides_stops_every_process(tmp_path, framework):
    script = standalone_run(framework)
    assert 'params = {"lr": 0.01}' in script and "grad_max" in script
    (tmp_path / "run.py").write_text(script)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NNI_")}
    ended = subprocess.run(
        [sys.executable, *STANDALONE[framework][2]],
        cwd=tmp_path,
        env={**environment, "OUT": str(tmp_path), "NNI_OUTPUT_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=240,  # without the shared stop, the second process waits for the first one for good
    )
    assert ended.returncode == 0, ended.stderr[-3000:]
    after_epoch_0 = STANDALONE[framework][3]
    assert (tmp_path / "0").read_text() == (tmp_path / "1").read_text() == after_epoch_0
    assert "BTTackler stops training at epoch 0: EAG" in ended.stderr
