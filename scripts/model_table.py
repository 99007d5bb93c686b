"""Print the markdown table of the shipped models (for README and the closing note)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.checkpoint import CHECKPOINT_DIR, shipped_names  # noqa: E402

KEYS = {"dates": ("test_exact_match", "handwritten_exact_match"), "addition": ("test_exact_match",),
        "text": ("valid_ppl", "test_ppl"), "hmm": ("test_nll_per_symbol", "oracle_nll_per_symbol",
                                                    "nll_ratio_model_over_oracle")}


def main() -> None:
    print("| model | task | arch | parameters | size | held-out metrics (greedy) | steps | train time |")
    print("|---|---|---|---:|---:|---|---:|---:|")
    for name in shipped_names():
        folder = CHECKPOINT_DIR / name
        cfg = json.loads((folder / "config.json").read_text())
        card = json.loads((folder / "card.json").read_text())
        size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
        m = card["metrics"]
        shown = ", ".join(f"{k} {m[k]}" for k in KEYS.get(cfg["task"], ()) if k in m)
        print(f"| `{name}` | {cfg['task']} | {cfg['arch']} | {card['parameters']:,} | {size:.1f} MB | {shown} | "
              f"{card['steps']} | {card['wall_time_s'] / 60:.1f} min |")
    total = sum(p.stat().st_size for p in CHECKPOINT_DIR.rglob("*") if p.is_file()) / 2**20
    print(f"\nAll of `checkpoints/`: {total:.1f} MB.")


if __name__ == "__main__":
    main()
