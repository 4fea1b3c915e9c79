"""Checks mini-app init data the way a backend using PyPI's init-data-py does.

Reads one JSON object from standard input: {"token", "bot_id", "public_key", "init_data"}, and
prints one JSON object: whether init-data-py accepts the HMAC (`hash`, keyed from the bot's token,
within its default lifetime of a day) and rejects it for another token; whether its third-party
check accepts `signature` (Ed25519, the `ed25519` extra) with Plaza's published public key and
rejects it for another bot id and with Telegram's own key; and what it parsed. Driven by
crates/server/tests/miniapp_sdk.rs.
"""

import json
import sys

import init_data_py
from init_data_py import is_valid_by_hash, is_valid_by_signature, validate_by_hash, validate_by_signature

req = json.load(sys.stdin)
token, bot_id, init_data = req["token"], req["bot_id"], req["init_data"]
key = bytes.fromhex(req["public_key"])
other_token = token[:-1] + ("A" if token[-1] != "A" else "B")

error = None
try:
    validate_by_hash(init_data, token)
    parsed = validate_by_signature(init_data, bot_id, public_key=key)
except init_data_py.errors.InvalidInitDataError as e:
    error = f"{type(e).__name__}: {e}"
    parsed = init_data_py.parse(init_data)

print(
    json.dumps(
        {
            "version": init_data_py.__version__,
            "ed25519_available": init_data_py.is_ed25519_available(),
            "error": error,
            "hash_ok": is_valid_by_hash(init_data, token),
            "hash_ok_other_token": is_valid_by_hash(init_data, other_token),
            "signature_ok": is_valid_by_signature(init_data, bot_id, public_key=key),
            "signature_ok_other_bot": is_valid_by_signature(init_data, bot_id + 1, public_key=key),
            "signature_ok_telegram_key": is_valid_by_signature(init_data, bot_id),
            "user_id": parsed.user.id if parsed.user else None,
            "query_id": parsed.query_id,
            "auth_date": parsed.auth_date,
        }
    )
)
