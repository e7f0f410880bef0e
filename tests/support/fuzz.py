"""What the fuzz tests share: the objects and browsers a test builds on its first generated example and reuses
for the rest (tests/conftest.py empties it around every test)."""

WORLD: dict = {}
