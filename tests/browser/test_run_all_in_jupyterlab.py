"""Run All in a student notebook, in JupyterLab, in a real (headless) Chromium: `make test-browser`.

The learner's notebook is lesson 01's student release with three kinds of exercise: one solved,
one solved wrongly, the rest still stubs. Run All must reach the last cell (a failed check does not
stop it: the release tags check cells `raises-exception`), show each check's one-line status with
the failed one's hint, and show no traceback into course_utils.

Needs Debian's `chromium` and `chromium-driver` and the `browser` extra (selenium); the Makefile
target installs them. It is not part of `make test`.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from course_utils.grading.release import release_notebook

REPO = Path(__file__).resolve().parents[2]
LESSON = REPO / "notebooks" / "01_activations.ipynb"
SHOTS = Path(os.environ.get("COURSE_BROWSER_SHOTS", REPO / "browser-shots"))

SIGMOID = '''def sigmoid(x):
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))'''
WRONG_RELU = '''def relu(x):
    return np.abs(x)   # a wrong answer'''


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def learner_notebook(folder):
    notebook = release_notebook(nbformat.read(LESSON, as_version=4))
    for cell in notebook.cells:
        meta = cell.metadata.get("course", {})
        if meta.get("role") == "solution" and meta.get("exercise") == "activations.sigmoid":
            cell.source = SIGMOID
        if meta.get("role") == "solution" and meta.get("exercise") == "activations.relu":
            cell.source = WRONG_RELU
    path = Path(folder) / "01_activations.ipynb"
    nbformat.write(notebook, path)
    checks = sum(c.metadata.get("course", {}).get("role") == "check" for c in notebook.cells)
    return path, checks


@pytest.fixture
def jupyterlab(tmp_path):
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail("needs Debian's chromium and chromium-driver (make test-browser installs them)")
    path, checks = learner_notebook(tmp_path)
    port, token = _free_port(), uuid.uuid4().hex
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_DATA_DIR": str(tmp_path / "data"),
           "COURSE_DEVICE": "cpu"}
    env.pop("MPLBACKEND", None)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={tmp_path}", "--ServerApp.open_browser=False"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    try:
        yield f"http://127.0.0.1:{port}/lab/tree/{path.name}?token={token}", checks
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_run_all_reaches_the_end_and_shows_every_status(jupyterlab, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.common.action_chains import ActionChains

    url, checks = jupyterlab
    browser.get(url)
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"), 90, "the notebook")
    _wait(lambda: "Idle" in browser.find_element(By.CSS_SELECTOR, "body").text
          or browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook-ExecutionIndicator[data-status='idle']"),
          90, "the kernel")
    # Run > Run All Cells, through the command palette as a learner can
    browser.find_element(By.CSS_SELECTOR, ".jp-Notebook").click()
    ActionChains(browser).key_down(Keys.CONTROL).key_down(Keys.SHIFT).send_keys("c").key_up(Keys.SHIFT) \
        .key_up(Keys.CONTROL).perform()
    palette = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, ".lm-CommandPalette-input"), 20, "the palette")[0]
    palette.send_keys("Run All Cells")
    palette.send_keys(Keys.ENTER)

    def finished():
        prompts = [p.text for p in browser.find_elements(By.CSS_SELECTOR, ".jp-CodeCell .jp-InputPrompt")]
        return prompts and all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in prompts) and prompts

    prompts = _wait(finished, 240, "Run All to reach the last cell")
    outputs = browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output")
    text = "\n".join(o.text for o in outputs)
    passed = len(re.findall(r"^✔ activations\.", text, re.M))
    failed = len(re.findall(r"^✘ activations\.", text, re.M))
    pending = len(re.findall(r"^… activations\.", text, re.M))
    SHOTS.mkdir(parents=True, exist_ok=True)
    failure = next(o for o in outputs if "✘ activations.relu" in o.text)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", failure)
    browser.save_screenshot(str(SHOTS / "failed_check.png"))
    print(f"\nRun All: {len(prompts)} code cells executed; check lines: {passed} passed, {failed} failed, "
          f"{pending} not implemented (of {checks} check cells)")
    print("the failed check as the learner sees it:\n" + failure.text)
    assert passed == 1 and failed == 1 and pending == checks - 2
    assert "Hint:" in failure.text
    assert "checking.py" not in text and "course_utils/" not in text and "Traceback" not in text

