"""Checks mini-app init data the way a bot's backend written with aiogram does.

Reads one JSON object from standard input: {"token", "bot_id", "public_key", "init_data"}, and
prints one JSON object: whether aiogram accepts the HMAC (`hash`, keyed from the bot's token), what
it parsed, and whether aiogram's Ed25519 check accepts `signature` with Plaza's published public key
(and rejects it for another bot id). Driven by crates/server/tests/webapps.rs.
"""

import json
import sys

from aiogram.utils.web_app import check_webapp_signature, safe_parse_webapp_init_data
from aiogram.utils.web_app_signature import check_webapp_signature as check_ed25519

req = json.load(sys.stdin)
token, init_data = req["token"], req["init_data"]
key = bytes.fromhex(req["public_key"])
parsed = safe_parse_webapp_init_data(token, init_data)
print(
    json.dumps(
        {
            "hash_ok": check_webapp_signature(token, init_data),
            "hash_ok_other_token": check_webapp_signature(token[:-1] + ("A" if token[-1] != "A" else "B"), init_data),
            "signature_ok": check_ed25519(req["bot_id"], init_data, key),
            "signature_ok_other_bot": check_ed25519(req["bot_id"] + 1, init_data, key),
            "user_id": parsed.user.id if parsed.user else None,
            "query_id": parsed.query_id,
            "chat_type": parsed.chat_type,
            "start_param": parsed.start_param,
            "chat_title": parsed.chat.title if parsed.chat else None,
        }
    )
)
