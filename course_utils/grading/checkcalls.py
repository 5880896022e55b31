"""Read an instructor's check cell as data: which checks it calls, on which of the learner's names.

A check cell (and its hidden tests) is a list of calls such as `check_sigmoid(sigmoid)` or
`check_sigmoid(sigmoid, seed=2026)`: the check's name, learner names as positional arguments and
literal keyword arguments. The grader runs these calls itself, with the learner's names standing
for objects that live in the sandboxed worker, so no check cell ever runs where learner code runs.
"""

import ast
from dataclasses import dataclass, field


class CheckCellError(ValueError):
    pass


@dataclass
class CheckCall:
    check: str                      # the name of the check function, e.g. "check_sigmoid"
    learners: list                  # learner names passed positionally, e.g. ["sigmoid"]
    kwargs: dict = field(default_factory=dict)  # literal keyword arguments, e.g. {"seed": 2026}
    line: int = 0
    hidden: bool = False            # from the cell's hidden tests


def parse_check_calls(source, where="check cell"):
    """The CheckCalls of a check cell's code; CheckCellError for anything else in it."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise CheckCellError(f"{where} is not valid Python: {err}") from None
    calls = []
    for node in tree.body:
        call = node.value if isinstance(node, ast.Expr) else None
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
            raise CheckCellError(f"{where}, line {node.lineno}: a check cell holds only calls such as "
                                 "check_x(x) or check_x(x, seed=1)")
        learners = []
        for arg in call.args:
            if not isinstance(arg, ast.Name):
                raise CheckCellError(f"{where}, line {node.lineno}: pass learner code by name")
            learners.append(arg.id)
        kwargs = {}
        for keyword in call.keywords:
            try:
                kwargs[keyword.arg] = ast.literal_eval(keyword.value)
            except ValueError:
                raise CheckCellError(f"{where}, line {node.lineno}: keyword {keyword.arg} is not a literal") from None
        calls.append(CheckCall(call.func.id, learners, kwargs, node.lineno))
    return calls


def check_functions():
    """Every registered check (importing every lesson's check module)."""
    import importlib
    import pkgutil

    import course_utils.checks as package
    from course_utils.checking import REGISTRY

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"course_utils.checks.{info.name}")
    return list(REGISTRY.values())


def resolve_check(name, exercise, checks=None):
    """The check a check cell of `exercise` means by `name`, or None.

    Two lessons may both have, say, a `check_train_step`: the one registered for this cell's exercise
    wins, then one of the same lesson, then the only one of that name.
    """
    candidates = [c for c in (checks if checks is not None else check_functions()) if c.__name__ == name]
    lesson = (exercise or "").split(".", 1)[0]
    for preferred in ([c for c in candidates if c.exercise_id == exercise],
                      [c for c in candidates if c.exercise_id.split(".", 1)[0] == lesson],
                      candidates if len(candidates) == 1 else []):
        if preferred:
            return preferred[0]
    return None
