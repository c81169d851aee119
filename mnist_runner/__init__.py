"""The runner behind `invoke`: registry → setup → run → normalize → report.

Each module has one job; tasks.py at the repository root only wires invoke to them.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
