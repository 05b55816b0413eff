"""examples/notebook.ipynb runs top to bottom in a real kernel and shows what
it says it shows: the quotes table, events and stats as HTML, a PNG plot.

The kernel is a subprocess started and shut down by nbclient. The test runs
nbclient's coroutine in an event loop of its own (``asyncio.run``) rather
than through ``execute()``, whose sync wrapper keeps a loop open for the
thread and would leave its file descriptors behind (conftest's leak check).
The notebook itself is synchronous code only."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pathlib
from typing import Any, Dict, List

import pytest


ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "notebook.ipynb"


def _cells() -> List[Dict[str, Any]]:
    cells: List[Dict[str, Any]] = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    return cells


def test_the_committed_notebook_is_clean_and_synchronous() -> None:
    cells = _cells()
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code), "clear the outputs"
    for before, cell in zip(cells, cells[1:]):
        if cell["cell_type"] == "code":  # each step says what it is for
            assert before["cell_type"] == "markdown", f"no markdown before cell {cell['id']}"
    source = "\n".join("".join(c["source"]) for c in code)
    for word in ("asyncio", "await ", "async ", "nest_asyncio"):
        assert word not in source


def _mime(cell: Any, kind: str) -> str:
    return "".join(str(o.get("data", {}).get(kind, "")) for o in cell.outputs)


def _run() -> Any:
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install -e '.[test]')")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install -e '.[test]')")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install -e '.[test]')")
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=60, startup_timeout=60, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    kernels: List[int] = []
    client.on_notebook_start = lambda notebook: kernels.append(client.km.provisioner.pid)
    # MPLBACKEND=Agg as on a headless CI runner: the plot must still come out as a PNG.
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    asyncio.run(client.async_execute(env=env))
    assert client.km is None and kernels, "nbclient did not shut its kernel down"
    with pytest.raises(ProcessLookupError):
        os.kill(kernels[0], 0)  # the kernel process is gone (and reaped)
    return nb


@pytest.mark.timeout(240)
def test_the_notebook_runs_and_shows_its_outputs() -> None:
    nb = _run()
    cells = {c.id: c for c in nb.cells if c.cell_type == "code"}
    for cell in cells.values():
        assert cell.execution_count is not None, f"cell {cell.id} did not run"
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"cell {cell.id}: {errors}"
    quotes = _mime(cells["quotes"], "text/html")
    assert "<table" in quotes and "<th>SPY</th>" in quotes and "<th>bid</th>" in quotes
    assert "<b>Quote</b>" in _mime(cells["event"], "text/html") and "SPY" in _mime(cells["event"], "text/html")
    assert "<b>Trade</b>" in _mime(cells["stream"], "text/html")
    assert "reconnects" in _mime(cells["stats"], "text/plain")
    assert "<th>close</th>" in _mime(cells["history"], "text/html")
    png = _mime(cells["plot"], "image/png")
    assert png and base64.b64decode(png).startswith(b"\x89PNG\r\n\x1a\n")
    assert "closed" in _mime(cells["close"], "text/plain")
    assert "<b>symbols</b>" in _mime(cells["stats"], "text/html")
    assert "connected" in _mime(cells["connect"], "text/html")
    assert "closed" in _mime(cells["close"], "text/html")
