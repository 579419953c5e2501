"""Execute every notebook in this folder with nbclient; fail on the first
error. Outputs stay out of the repository (the notebooks are committed
cleared); executed copies go to CHAINTRACE_NOTEBOOK_OUT for reading."""
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

here = Path(__file__).resolve().parent
out = Path(os.environ["CHAINTRACE_NOTEBOOK_OUT"])
out.mkdir(parents=True, exist_ok=True)
names = sys.argv[1:] or sorted(p.name for p in here.glob("*.ipynb"))
for name in names:
    nb = nbformat.read(here / name, as_version=4)
    if any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
        sys.exit(f"{name}: committed with outputs; clear them (one consistent choice: cleared)")
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(here)}}).execute()
    nbformat.write(nb, out / name)
    print(f"{name}: executed, {sum(1 for c in nb.cells if c.cell_type == 'code')} code cells, copy in {out / name}")
