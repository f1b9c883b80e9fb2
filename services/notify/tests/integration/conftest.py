import sys
from pathlib import Path

# pytest runs with --import-mode=importlib: make the uniquely named helper module importable.
sys.path.insert(0, str(Path(__file__).parent))
