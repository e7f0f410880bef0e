"""The audit chain's HMAC keys: held outside the database (environment or a key file), chosen by key id.

A key is written `key_id:secret`; several keys (old ones kept for verifying rows they signed) are separated by
commas or new lines. `AUDIT_HMAC_KEYS` holds them directly, `AUDIT_HMAC_KEY_FILE` names a file with one per line
(a line starting with `#` is a comment); `AUDIT_HMAC_KEY_ID` says which one signs new rows and checkpoints
(docs/deployment.md §13).
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

from flask import current_app

KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,16}$")
MIN_KEY_LENGTH = 32
# The defaults of DevelopmentConfig and TestConfig start so: never a production key (`flask check`).
DEV_KEY_PREFIXES = ("dev-only-", "test-only-")


class KeyringError(ValueError):
    """The key settings cannot be used (the message says why, in Chinese)."""


_BLOCK = hashlib.sha256().block_size


def _padded(secret: bytes) -> tuple:
    """SHA-256 states after the inner and outer HMAC pads (RFC 2104), to be copied per message."""
    if len(secret) > _BLOCK:
        secret = hashlib.sha256(secret).digest()
    secret = secret.ljust(_BLOCK, b"\0")
    return (hashlib.sha256(bytes(b ^ 0x36 for b in secret)), hashlib.sha256(bytes(b ^ 0x5C for b in secret)))


class Keyring:
    """Key id → key, the current key id, and HMAC-SHA256 with each key.

    `mac` is RFC 2104 HMAC-SHA256 (equal to `hmac.new(key, message, sha256)`, tests/test_audit_keyed.py) from
    hash states prepared once per key: it costs what one SHA-256 costs; `hmac.HMAC.copy()` costs three times that
    on every audited request.
    """

    def __init__(self, keys: Mapping[str, str], current: str):
        self.secrets = dict(keys)
        self.current = current
        self._pads = {key_id: _padded(secret.encode("utf-8")) for key_id, secret in self.secrets.items()}

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._pads

    def mac(self, key_id: str, message: bytes) -> str | None:
        """HMAC-SHA256 of the message under that key, hex; None when the key id is not configured."""
        pads = self._pads.get(key_id)
        if pads is None:
            return None
        inner, outer = pads[0].copy(), pads[1].copy()
        inner.update(message)
        outer.update(inner.digest())
        return outer.hexdigest()


def parse_keys(text: str, source: str) -> dict[str, str]:
    """Read `id:key` entries separated by commas or new lines (`#` comments); refuse malformed or clashing ones."""
    keys: dict[str, str] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):  # whole-line comments only: a key may contain '#'
            continue
        for entry in line.split(","):
            entry = entry.strip()
            if not entry:
                continue
            key_id, sep, secret = entry.partition(":")
            key_id, secret = key_id.strip(), secret.strip()
            if not sep or not secret:
                raise KeyringError(f"{source} 中的条目应写成 密钥编号:密钥（{key_id[:16]}…）。")
            if not KEY_ID.match(key_id):
                raise KeyringError(f"{source} 中的密钥编号 {key_id[:20]!r} 无效：只能用 1–16 个字母、数字、_ . -。")
            if keys.get(key_id, secret) != secret:
                raise KeyringError(f"{source} 中密钥编号 {key_id} 出现两次且取值不同。")
            keys[key_id] = secret
    return keys


def load_keyring(config: Mapping) -> Keyring | None:
    """Build the keyring from the settings; None when no key is configured at all."""
    keys: dict[str, str] = {}
    inline = config.get("AUDIT_HMAC_KEYS")
    if isinstance(inline, Mapping):
        keys.update({str(k): str(v) for k, v in inline.items()})
    elif inline:
        keys.update(parse_keys(str(inline), "AUDIT_HMAC_KEYS"))
    path = config.get("AUDIT_HMAC_KEY_FILE")
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyringError(f"无法读取审计密钥文件 {path}：{exc}") from None
        for key_id, secret in parse_keys(text, str(path)).items():
            if keys.get(key_id, secret) != secret:
                raise KeyringError(f"密钥编号 {key_id} 在 AUDIT_HMAC_KEYS 和 {path} 中取值不同。")
            keys[key_id] = secret
    if not keys:
        return None
    for key_id in keys:
        if not KEY_ID.match(key_id):
            raise KeyringError(f"密钥编号 {key_id[:20]!r} 无效：只能用 1–16 个字母、数字、_ . -。")
    current = config.get("AUDIT_HMAC_KEY_ID") or (next(iter(keys)) if len(keys) == 1 else None)
    if current is None:
        raise KeyringError("配置了多个审计密钥，请用 AUDIT_HMAC_KEY_ID 指明用哪一个签新的事件。")
    if current not in keys:
        raise KeyringError(f"AUDIT_HMAC_KEY_ID={current} 不在已配置的审计密钥中。")
    return Keyring(keys, current)


def keyring() -> Keyring:
    """The app's keyring, built once and rebuilt only when the settings object changes (cheap per call)."""
    app = current_app._get_current_object()  # one proxy lookup, not five
    config = app.config
    cached = app.extensions.get("audit_keyring")
    if (cached is not None and cached[0] is config.get("AUDIT_HMAC_KEYS")
            and cached[1] is config.get("AUDIT_HMAC_KEY_FILE") and cached[2] is config.get("AUDIT_HMAC_KEY_ID")):
        return cached[3]
    ring = load_keyring(config)
    if ring is None:
        raise KeyringError("未配置审计链密钥（AUDIT_HMAC_KEYS 或 AUDIT_HMAC_KEY_FILE）。")
    app.extensions["audit_keyring"] = (config.get("AUDIT_HMAC_KEYS"), config.get("AUDIT_HMAC_KEY_FILE"),
                                       config.get("AUDIT_HMAC_KEY_ID"), ring)
    return ring


def is_dev_key(secret: str) -> bool:
    """Tell whether a key is one of the published development/test defaults."""
    return secret.strip().lower().startswith(DEV_KEY_PREFIXES)
