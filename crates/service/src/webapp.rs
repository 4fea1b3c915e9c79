//! Mini-app init data, signed as Telegram signs it: the query string a mini app receives as
//! `Telegram.WebApp.initData`, with `hash` (HMAC-SHA256 keyed from the bot's token, which the
//! bot's backend checks) and `signature` (Ed25519 with this instance's key, which anyone can check
//! with the published public key and the bot's id).
//!
//! - HMAC: `secret = HMAC_SHA256(key = "WebAppData", msg = token)`; `hash = hex(HMAC_SHA256(secret,
//!   check))` where `check` is every `key=value` but `hash`, sorted by key, joined by `\n`. The bot's
//!   token is stored only as a digest, so the server keeps `secret` (the *web-app key*) instead: it
//!   signs init data and nothing else, and the token cannot be derived from it.
//! - Ed25519: over `"<bot_id>:WebAppData\n"` + every `key=value` but `hash` and `signature`, sorted,
//!   joined by `\n`; base64url without padding.

use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What `encodeURIComponent` leaves alone; Telegram's init data is encoded this way (`%20`, not `+`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// `HMAC_SHA256(key = "WebAppData", msg = token)`: the key init data of this bot is signed with.
pub fn webapp_key(token: &str) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(b"WebAppData").expect("any key length");
    mac.update(token.as_bytes());
    mac.finalize().into_bytes().into()
}

fn sorted_check<'a>(pairs: impl Iterator<Item = &'a (String, String)>) -> String {
    let mut lines: Vec<String> = pairs.map(|(k, v)| format!("{k}={v}")).collect();
    lines.sort();
    lines.join("\n")
}

fn hmac_hex(key: &[u8; 32], check: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
    mac.update(check.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn ed25519_check(bot_id: i64, pairs: &[(String, String)]) -> String {
    let rest = sorted_check(pairs.iter().filter(|(k, _)| k != "hash" && k != "signature"));
    format!("{bot_id}:WebAppData\n{rest}")
}

/// Signs `fields` (decoded `key`, `value` pairs; objects already JSON text) for `bot_id` and returns
/// the init data query string, `signature` and `hash` included.
pub fn sign(fields: Vec<(String, String)>, bot_id: i64, webapp_key: &[u8; 32], instance_key: &SigningKey) -> String {
    let mut pairs = fields;
    let signature = instance_key.sign(ed25519_check(bot_id, &pairs).as_bytes());
    pairs.push(("signature".into(), base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature.to_bytes())));
    let hash = hmac_hex(webapp_key, &sorted_check(pairs.iter()));
    pairs.push(("hash".into(), hash));
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", utf8_percent_encode(k, COMPONENT), utf8_percent_encode(v, COMPONENT)))
        .collect::<Vec<_>>()
        .join("&")
}

fn parse(init_data: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(init_data.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Checks `hash` as a bot's backend does, in constant time.
pub fn verify_hash(init_data: &str, webapp_key: &[u8; 32]) -> bool {
    let pairs = parse(init_data);
    let Some((_, hash)) = pairs.iter().find(|(k, _)| k == "hash") else { return false };
    let expected = hmac_hex(webapp_key, &sorted_check(pairs.iter().filter(|(k, _)| k != "hash")));
    subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), hash.as_bytes()).into()
}

/// Checks `signature` as a third party does, with the instance's public key and the bot's id.
pub fn verify_signature(init_data: &str, bot_id: i64, public_key: &VerifyingKey) -> bool {
    let pairs = parse(init_data);
    let Some((_, sig)) = pairs.iter().find(|(k, _)| k == "signature") else { return false };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig.trim_end_matches('=')) else {
        return false;
    };
    let Ok(signature) = ed25519_dalek::Signature::from_slice(&bytes) else { return false };
    public_key.verify(ed25519_check(bot_id, &pairs).as_bytes(), &signature).is_ok()
}

/// The public key as lowercase hex, as Telegram publishes its own.
pub fn public_key_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    // From the tma.js init-data documentation and tests: data Telegram signed for bot 7342037359.
    const TOKEN: &str = "7342037359:AAFZehRPBRs8Seg40oDjTMIW8uTGPuW1zfQ";
    const BOT_ID: i64 = 7342037359;
    const TELEGRAM_PUBLIC_KEY: &str = "e7bf03a2fa4602af4580703d88dda5bb59f32ed8b02a56c187fe7d34caed242d";
    const INIT_DATA: &str = "user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%20%2B%20-%20%3F%20%5C%2F%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C%22is_premium%22%3Atrue%2C%22allows_write_to_pm%22%3Atrue%2C%22photo_url%22%3A%22https%3A%5C%2F%5C%2Ft.me%5C%2Fi%5C%2Fuserpic%5C%2F320%5C%2F4FPEE4tmP3ATHa57u6MqTDih13LTOiMoKoLDRG4PnSA.svg%22%7D&chat_instance=8134722200314281151&chat_type=private&auth_date=1733584787&hash=2174df5b000556d044f3f020384e879c8efcab55ddea2ced4eb752e93e7080d6&signature=zL-ucjNyREiHDE8aihFwpfR9aggP2xiAo3NSpfe-p7IbCisNlDKlo7Kb6G4D0Ao2mBrSgEk4maLSdv6MLIlADQ";

    fn hex32(s: &str) -> [u8; 32] {
        hex::FromHex::from_hex(s).unwrap()
    }

    #[test]
    fn the_webapp_key_is_telegrams() {
        let key = webapp_key(TOKEN);
        assert_eq!(key, hex32("c0881d6d547967540dcb06d7378a2c2b2c79a8f915ae70a4a37a8a04de0da32b"));
        // The spec digest's second vector.
        assert_eq!(
            webapp_key("5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8"),
            hex32("a5c609aa52f63cb5e6d8ceb6e4138726ea82bbc36bb786d64482d445ea38ee5f")
        );
    }

    #[test]
    fn telegrams_own_init_data_verifies_both_ways() {
        assert!(verify_hash(INIT_DATA, &webapp_key(TOKEN)));
        assert!(!verify_hash(INIT_DATA, &webapp_key("7342037359:AAFZehRPBRs8Seg40oDjTMIW8uTGPuW1zfR")));
        let telegram = VerifyingKey::from_bytes(&hex32(TELEGRAM_PUBLIC_KEY)).unwrap();
        assert!(verify_signature(INIT_DATA, BOT_ID, &telegram));
        assert!(!verify_signature(INIT_DATA, BOT_ID + 1, &telegram));
        let tampered = INIT_DATA.replace("auth_date=1733584787", "auth_date=1733584788");
        assert!(!verify_hash(&tampered, &webapp_key(TOKEN)));
        assert!(!verify_signature(&tampered, BOT_ID, &telegram));
    }

    #[test]
    fn what_we_sign_verifies_and_survives_awkward_text() {
        let instance = SigningKey::from_bytes(&[7; 32]);
        let key = webapp_key("1000004:abcdefghijklmnopqrstuvwxyzABCDEFGHI");
        let user = r#"{"id":1000001,"first_name":"Ann & Co = +1 ? \/ ü 😀","username":"ann"}"#;
        let data = sign(
            vec![
                ("user".into(), user.into()),
                ("auth_date".into(), "1700000000".into()),
                ("query_id".into(), "AAE-x_1".into()),
            ],
            1000004,
            &key,
            &instance,
        );
        assert!(!data.contains('+') && !data.contains(' '), "spaces are %20, as Telegram writes them: {data}");
        assert!(verify_hash(&data, &key));
        assert!(verify_signature(&data, 1000004, &instance.verifying_key()));
        let decoded: Vec<(String, String)> = parse(&data);
        assert_eq!(decoded.iter().find(|(k, _)| k == "user").unwrap().1, user);
        assert_eq!(public_key_hex(&instance).len(), 64);
    }
}
