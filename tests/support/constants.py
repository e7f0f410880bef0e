"""The fixed instant every test starts from and the password every test account shares."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

# 2026-11-27 10:00 in Asia/Shanghai, a Friday: every test starts from the same instant.
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)
PASSWORD = "Xinyong@2026"
# Test accounts that need a second factor are enrolled with this secret, so tests can compute codes
# (tests/auth/test_auth_second_factor.py covers enrolment itself).
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
# The repository root, wherever a test module sits below tests/.
ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ROOT / "processes"
