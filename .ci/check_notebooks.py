"""Fail when a notebook carries outputs, execution counts or saved widget state (nbdev_clean leaves widget state)."""
import json, sys
from pathlib import Path

def problems(path):
    try: nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e: return [f"unreadable notebook: {e}"]
    found = [f"saved widget state in metadata.widgets"] if "widgets" in nb.get("metadata", {}) else []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("outputs"): found.append(f"cell {i} has outputs")
        if cell.get("execution_count") is not None: found.append(f"cell {i} has an execution count")
        if "widgets" in cell.get("metadata", {}): found.append(f"cell {i} has widget state")
    return found

if __name__ == "__main__":
    bad = {p: probs for p in sorted(Path(sys.argv[1]).rglob("*.ipynb")) if (probs := problems(p))}
    for p, probs in bad.items(): print(f"{p}: " + "; ".join(probs))
    if bad: sys.exit("notebooks must be committed clean: run `make clean-notebooks`")
    print("notebooks clean")
