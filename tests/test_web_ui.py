"""NNI's web UI in a real browser: headless Chromium (the system's ``/usr/bin/chromium``, driven by
Playwright; nothing downloads a browser) on finished experiments, checking what a user looks for.

Two of the session's experiments: the digits run started after ``bttackler nni-repair apply``
(BTTackler's stops show as EARLY_STOPPED), and the run through NNI's remote training service,
started with NNI's original code (they show as USER_CANCELED; it needs openssh-server). The charts
are drawn by ECharts on a canvas; the series it plots is the chart component's ``option``
property, read through React's fiber on the chart's element.

Screenshots go to a temporary folder, or to ``$BTTACKLER_SCREENSHOTS`` when set
(``make webui-screenshots`` writes the README's, under docs/webui/).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from nni_harness import (
    missing_system_packages,
)

from bttackler_nni.experiments import store
from bttackler_nni.experiments.launch import free_port, nnictl

pytestmark = [pytest.mark.nni, pytest.mark.webui]

CHROMIUM = Path("/usr/bin/chromium")
PLOTTED_SERIES = """chart => {
    const key = Object.keys(chart).find(k => k.startsWith('__reactFiber'));
    for (let fiber = chart[key]; fiber; fiber = fiber.return) {
        const option = fiber.memoizedProps && fiber.memoizedProps.option;
        if (option) return option.series.map(s => ({name: s.name, data: s.data}));
    }
    return null;
}"""


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    """A headless Chromium page; skips without playwright or chromium (fails under CI)."""
    missing = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("playwright (pip install playwright; never `playwright install`)")
    if not CHROMIUM.is_file():
        missing.append(f"chromium at {CHROMIUM} (apt-get install chromium)")
    if missing:
        missing_system_packages("the web UI tests need " + " and ".join(missing))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser.new_page(viewport={"width": 1400, "height": 900})
        browser.close()


@contextmanager
def viewed(experiment: store.Experiment, env: dict[str, str]) -> Iterator[str]:
    """The stopped experiment's web UI (``nnictl view``, read-only): its URL while the block runs."""
    port = free_port()
    nnictl("view", experiment.id, "--port", str(port), env=env)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        nnictl("stop", experiment.id, env=env)


@pytest.fixture(scope="module")
def repaired(bttackler_run) -> Iterator[tuple[store.Experiment, str]]:
    """The session's digits run (NNI repair applied) and its web UI."""
    with viewed(bttackler_run.experiment, bttackler_run.env) as url:
        yield bttackler_run.experiment, url


@pytest.fixture(scope="module")
def unrepaired(remote_run) -> Iterator[tuple[store.Experiment, str]]:
    """The session's run through NNI's remote training service (NNI's original code) and its web UI."""
    with viewed(remote_run.experiment, remote_run.env) as url:
        yield remote_run.experiment, url


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("BTTACKLER_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def statuses_shown(page: Any, url: str, experiment: store.Experiment) -> dict[str, str]:
    """Each trial's status as the "Trials detail" table shows it."""
    page.goto(f"{url}/detail")
    shown = {}
    for trial in experiment.trials:
        row = page.locator('[data-automationid="DetailsRow"]', has_text=trial.id)
        shown[trial.id] = row.locator('[data-automation-key="status"]').inner_text(timeout=60_000)
    return shown


def test_stopped_trials_show_user_canceled_before_the_repair_and_early_stopped_after(
    page, unrepaired, repaired, screenshots
):
    for (experiment, url), stopped_as in ((unrepaired, "USER_CANCELED"), (repaired, "EARLY_STOPPED")):
        shown = statuses_shown(page, url, experiment)
        expected = {t.id: stopped_as if t.stopped_by_bttackler else t.status for t in experiment.trials}
        assert shown == expected and stopped_as in shown.values()
    page.screenshot(path=screenshots / "trials.png", full_page=True)


def test_a_stopped_trials_gradient_diagnostics_can_be_chosen_and_are_plotted(page, repaired, screenshots):
    experiment, url = repaired
    trial = next(t for t in experiment.trials if t.stopped_by_bttackler)
    page.goto(f"{url}/detail")
    row = page.locator('[data-automationid="DetailsRow"]', has_text=trial.id)
    row.locator('button[title="Intermediate"]').click(timeout=60_000)
    dialog = page.get_by_role("dialog")
    chart = dialog.locator(".echarts-for-react")
    for key in ("zero_grad_share", "grad_median"):  # the screenshot shows the last
        dialog.get_by_role("combobox").click()
        offered = page.get_by_role("option").all_inner_texts()
        assert {"grad_median", "zero_grad_share", "default"} <= set(offered)
        page.get_by_role("option", name=key, exact=True).click()
        assert dialog.locator(".ms-Dropdown-title").inner_text() == key
        (series,) = chart.evaluate(PLOTTED_SERIES)
        assert series["name"] == trial.id
        assert series["data"] == pytest.approx([record[key] for record in trial.intermediate])
    page.wait_for_timeout(1500)  # ECharts draws the line in an animation of about 1 s
    page.screenshot(path=screenshots / "stopped-trial-grad-median.png")


def test_why_a_trial_was_stopped_is_in_the_web_uis_dispatcher_log(page, repaired, screenshots):
    """The "Log files" button of every experiment page opens NNI's log panel; its "Dispatcher log" tab
    has the line BTTackler logs for each stop, with the indicator, its rule, the observed value and the
    threshold. The panel's editor wraps long lines anywhere, so the text is compared without spaces."""
    experiment, url = repaired
    stopped = [t for t in experiment.trials if t.stopped_by_bttackler]
    assert stopped
    page.goto(f"{url}/oview")
    page.locator('img[alt="log"]').click(timeout=60_000)
    panel = page.get_by_role("dialog")
    panel.get_by_role("tab", name="Dispatcher log").click()
    shown = "".join(panel.inner_text(timeout=60_000).split())
    for trial in stopped:
        verdict, reason = trial.stop_verdict, trial.stop_verdict.reason
        line = (
            f"BTTackler trial {trial.id} stopped at epoch {verdict.epoch} (report {verdict.report}) "
            f"by {reason.indicator} ({reason.title}) [{reason.kind.value}]"
        )
        assert "".join(line.split()) in shown, line
    page.screenshot(path=screenshots / "dispatcher-log.png")
