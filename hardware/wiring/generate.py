"""Generate the wiring diagrams (*.svg) and README.md of this folder from kits.json.

    .venv/bin/python hardware/wiring/generate.py

tests/hardware/test_wiring.py fails when the committed files differ from what this writes,
or when kits.json and the firmware's default pins disagree.
"""

from pathlib import Path

from lokaalmeten.kit_tools.wiring import generate

if __name__ == "__main__":
    for path, text in generate(Path(__file__).resolve().parent).items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
