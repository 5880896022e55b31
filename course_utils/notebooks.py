"""Finding and executing the lesson notebooks."""

import time
from pathlib import Path


def lesson_notebooks(source):
    """The .ipynb files at `source` (a notebook or a folder), in course order, without checkpoints."""
    source = Path(source)
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise FileNotFoundError(f"{source} is neither a notebook nor a folder")
    return sorted(p for p in source.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def execute_in_place(path, timeout=300, kernel_name="python3"):
    """Run every cell of the notebook at `path` in a fresh kernel and save it with its outputs.

    The kernel starts in the notebook's folder, as in JupyterLab. Returns the seconds it took.
    If a cell fails, nbclient's CellExecutionError propagates and the file is left unchanged.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(notebook, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    elapsed = time.perf_counter() - start
    nbformat.write(notebook, path)
    return elapsed
