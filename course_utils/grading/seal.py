"""Seal each result record, so that a resume trusts only records this grader wrote.

A record's seal is an HMAC-SHA256 of its canonical JSON under a key that lives outside the output
folder (`~/.config/course/grader.key`, created on first use with mode 0600, or the file that
COURSE_GRADER_KEY_FILE names). No sandbox sees either place. A record whose seal is missing or
wrong (edited by hand, planted by someone else, written by another machine's grader) is graded
again, and the run says so.
"""

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

SEAL = "seal"
KEY_ENV = "COURSE_GRADER_KEY_FILE"


def key_path():
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "course" / "grader.key"


def grader_key():
    path = key_path()
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def _digest(record, key):
    body = {k: v for k, v in record.items() if k != SEAL}
    text = json.dumps(body, sort_keys=True, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return hmac.new(key, text.encode("ascii"), hashlib.sha256).hexdigest()


def sealed(record, key):
    return {**record, SEAL: _digest(record, key)}


def is_sealed(record, key):
    seal = record.get(SEAL) if isinstance(record, dict) else None
    return isinstance(seal, str) and hmac.compare_digest(seal, _digest(record, key))
