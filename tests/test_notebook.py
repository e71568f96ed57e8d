"""The notebook a new user opens first runs from top to bottom (so it never rots)."""

from pathlib import Path

from conftest import needs

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "explore.ipynb"


def test_explore_notebook_runs(tmp_path):
    needs("ipykernel"), needs("matplotlib")
    nbformat = needs("nbformat")
    NotebookClient = needs("nbclient").NotebookClient
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # exchanges, utterance lengths, rejects
    text = "".join(o.get("text", "") for o in outputs)
    assert "lines ->" in text and "[" in text
