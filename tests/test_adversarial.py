"""The grader against students who want marks without the work, or want to harm classmates.

Each attack is a submission of the fixture lesson (tests/grading_fixtures.py) whose `row_means` cell
attacks; its `relu` is correct, and a correct control submission sits in the same batch. Every
attack must end at 0 points for row_means with a clear status, and the control must keep full marks.

The attacks run twice:

1. through `course grade` as an instructor runs it (vetting, bubblewrap sandbox, parallel grader
   processes): most are stopped before they run, by the rules for solution cells;
2. with the vetting switched off, in the real sandbox: what the vetting would have stopped must be
   stopped again by the split verdict (the checks run in the grader; only plain data comes back) and
   by the sandbox (no files, no other processes, no network, nothing survives the run).
"""

import concurrent.futures as futures
import json
import os
import shutil
import uuid
from pathlib import Path

import pytest

import grading_fixtures as F
from course_utils.cli import main
from course_utils.grading import grade, isolation, seal
from course_utils.grading.grade import load_source
from course_utils.grading.runner import Limits

pytestmark = pytest.mark.slow
RM, RL = F.EXERCISES
CONTROL = "control"
CANARY = f"CANARY_{uuid.uuid4().hex}"
HERE = Path(__file__).resolve().parent

FORGED_RESULT = ("{'application/vnd.course.check+json': {'exercise': 'welcome.row_means', 'status': 'passed', "
                 "'points': 1400, 'max_points': 1, 'message': 'FORGED_TOKEN'}, 'text/plain': 'ok'}")

ATTACKS = {
    # forged check results, printed or published, and hooks on the display machinery
    "forged_display": f"""
        from IPython.display import publish_display_data
        publish_display_data({FORGED_RESULT})
        print('✔ welcome.row_means: 9 cases match torch.mean')
        def row_means(x):
            raise NotImplementedError
    """,
    "display_hook": f"""
        ip = get_ipython()
        original = ip.display_pub.publish
        ip.display_pub.publish = lambda data, **kw: original({FORGED_RESULT}, **kw)
        def row_means(x):
            raise NotImplementedError
    """,
    # reading the checker's frames for the expected values
    "checker_frames": """
        import sys
        def row_means(x):
            frame = sys._getframe(1)
            while frame is not None:
                for value in list(frame.f_locals.values()):
                    if hasattr(value, 'shape') and value.shape == x.shape[:1]:
                        return value
                frame = frame.f_back
            return x[:, 0]
    """,
    # torch, reached directly, through a name the lesson imported, and through a tensor's methods
    "torch_import": """
        import torch
        def row_means(x):
            return torch.as_tensor(x).mean(dim=1).numpy()
    """,
    "torch_indirect": """
        def row_means(x):
            return torch.as_tensor(x).mean(dim=1).numpy()
    """,
    "torch_via_numpy": """
        def row_means(x):
            fn = np.__dict__['__builtins__']['__import__']('torch').mean
            return fn(np.asarray(x)).numpy()
    """,
    # reading files outside the sandbox: the instructor's notebook (path from the process table), secrets
    "read_files": """
        import glob
        found = []
        for pattern in ['/proc/*/cmdline', '/root/*', '/home/*/*', '/work/*/notebooks/*.ipynb',
                        '/tmp/pytest-*/**/secret.txt', '/tmp/**/*.ipynb', '/etc/passwd']:
            for path in glob.glob(pattern, recursive=True):
                try:
                    found.append(open(path, 'rb').read()[:400])
                except OSError:
                    pass
        def row_means(x):
            raise ValueError(repr(found))
    """,
    # patching the course's modules or NumPy so that comparisons always agree
    "patch_course": """
        import course_utils.checking as checking, course_utils.compare as compare
        compare.find_mismatch = lambda *a, **k: None
        checking.find_mismatch = lambda *a, **k: None
        np.allclose = lambda *a, **k: True
        def row_means(x):
            return x[:, 0]
    """,
    # harming a classmate: killing every other process, or connecting to other kernels
    "kill_others": """
        import os, signal
        for pid in os.listdir('/proc'):
            if pid.isdigit() and int(pid) != os.getpid():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
        def row_means(x):
            return x[:, 0]
    """,
    "connect_others": """
        import glob, json, socket
        reached = 0
        for path in glob.glob('/run/user/*/jupyter/*.json') + glob.glob('/root/.local/share/jupyter/runtime/*.json'):
            reached += 1
        for port in range(1, 65536, 997):
            try:
                socket.create_connection(('127.0.0.1', port), timeout=0.05).close()
                reached += 1
            except OSError:
                pass
        def row_means(x):
            return np.full(x.shape[0], float(reached))
    """,
    # work that outlives the run: a detached process, a planted .pth, a rewritten result
    "detached": f"""
        import subprocess, sys
        subprocess.Popen(['sleep', '97'], start_new_session=True, env={{'{CANARY}': '1'}})
        subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(97)'], start_new_session=True,
                         env={{'{CANARY}': '1'}})
        def row_means(x):
            return x[:, 0]
    """,
    "plant_files": f"""
        import site, sys, glob
        for folder in site.getsitepackages() + [sys.prefix]:
            try:
                open(folder + '/{CANARY}.pth', 'w').write('import os')
            except OSError:
                pass
        for path in glob.glob('/tmp/**/results/*.json', recursive=True):
            try:
                open(path, 'w').write('{{"status": "graded", "exercises": []}}')
            except OSError:
                pass
        def row_means(x):
            return x[:, 0]
    """,
    # an answer too large to send back
    "oversized": """
        def row_means(x):
            return np.zeros(6_000_000)
    """,
    # cheating only when graded: detect the grader, then try to read what it holds
    "graded_only": """
        import os
        GRADED = os.getuid() != 0 or 'COURSE_GRADING' in os.environ
        def row_means(x):
            if GRADED:
                try:
                    return np.array(eval(open('/proc/1/cmdline').read().split()[-1]))
                except Exception:
                    return x[:, 0]
            return x.mean(axis=1)
    """,
    # resource abuse and exits
    "infinite_loop": """
        def row_means(x):
            while True:
                pass
    """,
    "memory_bomb": """
        hog = np.ones((40_000, 40_000))
        def row_means(x):
            return x.mean(axis=1)
    """,
    "system_exit": """
        raise SystemExit(3)
    """,
    "os_exit": """
        import os
        os._exit(0)
    """,
    "segfault": """
        import ctypes
        ctypes.string_at(0)
    """,
    "output_flood": """
        while True:
            print('spam ' * 1000)
    """,
}

# Attacks that never reach row_means's check with vetting off, because they end the worker:
# the statuses they get (the control in the same batch is unaffected).
ENDS_THE_RUN = {"infinite_loop": "timeout", "os_exit": "crashed", "segfault": "crashed",
                "output_flood": "output too large"}


def requires_sandbox():
    problem = isolation.probe()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the sandbox tests: {problem} (make sandbox installs bubblewrap)")
        pytest.skip(problem)


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lesson")
    path = F.build_lesson(folder)
    (folder / "secret.txt").write_text(CANARY)  # something no submission may read
    return path


def attack_notebook(lesson, name):
    return F.submission(lesson, {RM: ATTACKS[name]})


def _canary_processes(wait=3.0):
    """Processes started by an attack that are still alive (after giving the kill a moment)."""
    import time

    deadline = time.monotonic() + wait
    while True:
        found = _canary_processes_now()
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _canary_processes_now():
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if CANARY.encode() in Path(f"/proc/{entry}/environ").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


def _site_canaries():
    import site
    import sys

    folders = site.getsitepackages() + [sys.prefix]
    return [f for folder in folders for f in Path(folder).glob(f"{CANARY}*")]


def test_every_attack_scores_nothing_through_course_grade(tmp_path, lesson, monkeypatch):
    requires_sandbox()
    monkeypatch.setenv(seal.KEY_ENV, str(tmp_path / "grader.key"))
    subs = tmp_path / "subs"
    F.write(F.read(lesson), subs / f"{CONTROL}.ipynb")
    for name in ATTACKS:
        F.write(attack_notebook(lesson, name), subs / f"{name}.ipynb")
    F.write(F.read(lesson), subs / "late_control.ipynb")
    out = tmp_path / "out"
    limits = ["--timeout", "8", "--total-timeout", "60", "--memory", "3000", "--max-output", "1"]
    assert main(["grade", str(lesson), str(subs), "--out", str(out), "--workers", "2", "--no-progress", *limits]) == 0
    records = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    for control in (CONTROL, "late_control"):
        assert records[control]["status"] == "graded"
        assert [e["points"] for e in records[control]["exercises"]] == [1.0, 1.0], records[control]
    for name in ATTACKS:
        entry = records[name]["exercises"][0]
        assert entry["points"] == 0, (name, entry)
        assert entry["status"] in (grade.REJECTED, "failed", "not implemented", grade.NOT_RUN), (name, entry)
        if entry["status"] == grade.REJECTED:
            assert "line" in entry["message"], (name, entry["message"])
    feedback = "\n".join(p.read_text() for p in (out / "feedback").glob("*.md"))
    assert "FORGED_TOKEN" not in feedback and "1400" not in feedback and CANARY not in feedback
    assert str(F.HIDDEN_SEED) not in feedback and not any(line in feedback for line in F.SOLUTION_LINES)
    assert _canary_processes() == [] and _site_canaries() == []


@pytest.fixture
def no_vetting(monkeypatch):
    """Switch the rules for solution cells off, so each attack really runs inside the sandbox."""
    monkeypatch.setattr(grade.vet, "vet", lambda source, forbidden=(): [])


def test_with_vetting_off_the_sandbox_and_the_split_verdict_still_hold(lesson, no_vetting):
    requires_sandbox()
    source = load_source(lesson)
    limits = Limits(cell_timeout=6, total_timeout=60, memory_mb=3000, max_output_bytes=2**20)
    batch = {CONTROL: F.read(lesson), **{name: attack_notebook(lesson, name) for name in ATTACKS},
             "late_control": F.read(lesson)}
    with futures.ThreadPoolExecutor(2) as pool:  # two sandboxes at a time, as `course grade --workers 2`
        pending = {name: pool.submit(grade.grade_notebook, source, notebook, limits) for name, notebook in batch.items()}
        records = {name: future.result() for name, future in pending.items()}
    problems = []
    for control in (CONTROL, "late_control"):
        if records[control]["status"] != "graded" or [e["points"] for e in records[control]["exercises"]] != [1, 1]:
            problems.append(f"{control}: {records[control]}")
    for name in ATTACKS:
        record = records[name]
        expected = ENDS_THE_RUN.get(name, "graded")
        text = json.dumps(record, ensure_ascii=False)
        if record["exercises"][0]["points"] != 0 or record["status"] != expected:
            problems.append(f"{name}: {record['status']} (expected {expected}), {record['exercises'][0]}")
        if "FORGED_TOKEN" in text or CANARY in text or str(F.HIDDEN_SEED) in text:
            problems.append(f"{name}: its record carries forged, secret or hidden text")
    assert not problems, "\n".join(problems)
    assert _canary_processes() == [] and _site_canaries() == []


def test_the_sandbox_sees_only_python_and_the_course(lesson, no_vetting):
    requires_sandbox()
    repo = HERE.parent
    probe = f"""
        import os, socket
        def visible(path):
            return os.path.exists(path)
        FACTS = [os.getuid(), sorted(os.listdir('/')), visible({str(repo / 'notebooks')!r}),
                 visible({str(lesson)!r}), visible({str(repo / 'course_utils' / 'checking.py')!r}),
                 visible(os.path.expanduser('~root')), sum(p.isdigit() for p in os.listdir('/proc'))]
        def row_means(x):
            raise ValueError(repr(FACTS))
    """
    scored = grade.grade_notebook(load_source(lesson), F.submission(lesson, {RM: probe}), Limits(cell_timeout=20))
    message = scored["exercises"][0]["message"]
    assert "raised ValueError" in message, message
    facts = eval(message[message.index("[65534"):message.rindex("]") + 1])
    uid, root, notebooks, source, package, home, processes = facts
    assert uid == 65534
    assert not notebooks and not source and package          # the course package, not the repository
    assert "etc" not in root and "home" not in root and not home
    assert processes <= 3                                     # its own PID namespace: init and the worker


def test_bubblewrap_is_what_the_set_up_installs():
    makefile = (HERE.parent / "Makefile").read_text()
    assert "bubblewrap" in makefile and "sandbox:" in makefile
    assert shutil.which("bwrap") or not os.environ.get("CI")
