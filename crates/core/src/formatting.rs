//! Telegram's text formatting: the Bot API's three parse modes and the entities Telegram finds in any text by itself.
//!
//! The parsers follow TDLib (`td/telegram/MessageEntity.cpp`), which the Bot API server runs for `parse_mode`,
//! down to its error messages and its handling of odd input, so that a bot gets the same text, entities and
//! errors from Plaza as from Telegram. Entity offsets and lengths count UTF-16 code units of the output text;
//! byte offsets in error messages count bytes of the input.
//!
//! One ambiguity deserves a note: in MarkdownV2, `__` is always taken greedily as the start or end of an underline,
//! exactly as Telegram does, so `___a___` is an error and italic underline is written `___a_**__` (an empty bold
//! entity separates the markers).

use std::cmp::Reverse;

use crate::ids::{MAX_ID, UserId};
use crate::message::{Entity, EntityKind};

/// A Bot API parse mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseMode {
    Html,
    MarkdownV2,
    Markdown,
}

impl ParseMode {
    /// "HTML", "MarkdownV2", "Markdown", matched case-insensitively (Telegram does); None otherwise.
    pub fn parse(name: &str) -> Option<ParseMode> {
        if name.eq_ignore_ascii_case("html") {
            Some(ParseMode::Html)
        } else if name.eq_ignore_ascii_case("markdownv2") {
            Some(ParseMode::MarkdownV2)
        } else if name.eq_ignore_ascii_case("markdown") {
            Some(ParseMode::Markdown)
        } else {
            None
        }
    }
}

/// Text with its entities, offsets in UTF-16 code units, entities sorted by (offset, longer first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formatted {
    pub text: String,
    pub entities: Vec<Entity>,
}

/// Why a formatted text could not be parsed. Display gives Telegram's wording after the "Bad Request: " prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("can't parse entities: {0}")]
pub struct FormatError(pub String);

/// Parses `input` written in `mode` into plain text and entities, as Telegram does for `parse_mode`.
pub fn parse(mode: ParseMode, input: &str) -> Result<Formatted, FormatError> {
    match mode {
        ParseMode::Html => parse_html(input),
        ParseMode::MarkdownV2 => parse_markdown_v2(input),
        ParseMode::Markdown => parse_markdown(input),
    }
}

/// Shortest mention Plaza detects. TDLib accepts four characters (and "@gif", "@vid", "@pic"); Plaza follows the
/// Bot API's documented username length instead.
const MIN_MENTION_LEN: usize = 5;
/// Longest mention: the longest username.
const MAX_MENTION_LEN: usize = 32;
/// Longest bot command name, the Bot API's limit for commands.
const MAX_COMMAND_LEN: usize = 32;
/// Shortest and longest ticker a cashtag may carry.
const MIN_CASHTAG_LEN: usize = 3;
const MAX_CASHTAG_LEN: usize = 8;
/// Longest hashtag, in characters after the '#'; longer runs are cut here, as Telegram cuts them.
const MAX_HASHTAG_LEN: usize = 256;

/// Entities Telegram's server detects in any message text by itself: mentions (@username, 5–32 chars
/// [A-Za-z0-9_], not inside a word or an email), hashtags (#tag), cashtags ($USD, 3–8 upper-case letters),
/// bot commands (/command or /command@botname at a word start, command 1–32 chars [A-Za-z0-9_]), URLs
/// (http(s)://… and bare domains like example.com/path with a known-looking TLD), emails. Offsets in UTF-16.
pub fn detect_entities(text: &str) -> Vec<Entity> {
    // Every scanner below starts from one of these bytes; most messages hold none of them, and one
    // pass over the bytes is cheaper than six scanners finding nothing.
    if !text.bytes().any(|b| matches!(b, b'@' | b'/' | b'#' | b'$' | b':' | b'.')) {
        return Vec::new();
    }
    let mut found: Vec<(usize, usize, EntityKind)> = Vec::new();
    found.extend(match_mentions(text).into_iter().map(|(s, e)| (s, e, EntityKind::Mention)));
    found.extend(match_bot_commands(text).into_iter().map(|(s, e)| (s, e, EntityKind::BotCommand)));
    found.extend(match_hashtags(text).into_iter().map(|(s, e)| (s, e, EntityKind::Hashtag)));
    found.extend(match_cashtags(text).into_iter().map(|(s, e)| (s, e, EntityKind::Cashtag)));
    found.extend(match_tg_urls(text).into_iter().map(|(s, e)| (s, e, EntityKind::Url)));
    found.extend(find_urls(text));

    // Like Telegram, keep the earliest (then longest) of overlapping finds; the sort is stable, so full ties keep
    // the order above.
    found.sort_by_key(|(start, end, _)| (*start, Reverse(*end)));
    let index = Utf16Index::new(text);
    let mut entities = Vec::new();
    let mut last_end = 0;
    for (start, end, kind) in found {
        if start < last_end || end <= start {
            continue;
        }
        last_end = end;
        let offset = index.at(start);
        entities.push(Entity { kind, offset, length: index.at(end).saturating_sub(offset) });
    }
    entities
}

/// Adds detected entities to `explicit` ones where they do not overlap an explicit entity of kind
/// Code, Pre, TextLink, Url, Email, Mention, TextMention, BotCommand, Hashtag or Cashtag (formatting
/// entities like Bold may overlap); result sorted by (offset, longer first).
///
/// CustomEmoji and PhoneNumber block detection too: Telegram lets nothing but formatting overlap them either.
pub fn merge_detected(text: &str, explicit: Vec<Entity>) -> Vec<Entity> {
    let blockers: Vec<(u64, u64)> = explicit
        .iter()
        .filter(|e| blocks_detection(&e.kind))
        .map(|e| (u64::from(e.offset), u64::from(e.offset) + u64::from(e.length)))
        .collect();
    let mut all = explicit;
    for found in detect_entities(text) {
        let (start, end) = (u64::from(found.offset), u64::from(found.offset) + u64::from(found.length));
        if !blockers.iter().any(|&(b_start, b_end)| start < b_end && b_start < end) {
            all.push(found);
        }
    }
    sort_entities(&mut all);
    all
}

/// Whether a detected entity must stay clear of an explicit entity of this kind.
fn blocks_detection(kind: &EntityKind) -> bool {
    matches!(
        kind,
        EntityKind::Code
            | EntityKind::Pre { .. }
            | EntityKind::TextLink { .. }
            | EntityKind::Url
            | EntityKind::Email
            | EntityKind::Mention
            | EntityKind::TextMention { .. }
            | EntityKind::BotCommand
            | EntityKind::Hashtag
            | EntityKind::Cashtag
            | EntityKind::CustomEmoji { .. }
            | EntityKind::PhoneNumber
    )
}

/// Telegram's order among entities that share offset and length (lower first), so equal spans come out in the
/// order Telegram returns them.
fn priority(kind: &EntityKind) -> u8 {
    match kind {
        EntityKind::Blockquote | EntityKind::ExpandableBlockquote => 0,
        EntityKind::Pre { language: Some(_) } => 10,
        EntityKind::Pre { language: None } => 11,
        EntityKind::Code => 20,
        EntityKind::TextLink { .. } | EntityKind::TextMention { .. } => 49,
        EntityKind::Mention
        | EntityKind::Hashtag
        | EntityKind::Cashtag
        | EntityKind::BotCommand
        | EntityKind::Url
        | EntityKind::Email
        | EntityKind::PhoneNumber => 50,
        EntityKind::Bold => 90,
        EntityKind::Italic => 91,
        EntityKind::Underline => 92,
        EntityKind::Strikethrough => 93,
        EntityKind::Spoiler => 94,
        EntityKind::CustomEmoji { .. } => 99,
    }
}

fn sort_entities(entities: &mut [Entity]) {
    entities.sort_by_key(|e| (e.offset, Reverse(e.length), priority(&e.kind)));
}

// ---------------------------------------------------------------------------------------------------------------
// Byte-level helpers shared by the parsers.

/// Byte `i` of `text`, or 0 past its end. TDLib parses NUL-terminated strings and stops many scans at that NUL, so
/// reading the end as a 0 byte keeps every one of its decisions, and no index can go out of bounds.
fn byte_at(text: &[u8], i: usize) -> u8 {
    text.get(i).copied().unwrap_or(0)
}

/// Whether `c` starts a UTF-8 character rather than continuing one.
fn starts_char(c: u8) -> bool {
    c & 0xC0 != 0x80
}

/// UTF-16 code units of the character whose first byte is `c`: 4-byte characters need a surrogate pair.
fn utf16_units(c: u8) -> usize {
    if c >= 0xF0 { 2 } else { 1 }
}

/// TDLib's `is_space`, which also counts NUL (its terminator) and vertical tab.
fn is_td_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0 | 0x0B)
}

/// A part of `s` by byte positions; empty rather than a panic if the positions are not character boundaries.
fn part(s: &str, start: usize, end: usize) -> &str {
    s.get(start..end).unwrap_or("")
}

/// The parsers' output as a String. They only drop ASCII markup and copy whole characters, so the bytes are
/// UTF-8; the lossy fallback only guards that reasoning instead of panicking.
fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn make_entity(kind: EntityKind, offset: usize, end: usize) -> Entity {
    Entity { kind, offset: to_u32(offset), length: to_u32(end.saturating_sub(offset)) }
}

fn fail<T>(message: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(message.into()))
}

/// Past a single line break ("\n", "\r", "\r\n" or "\n\r") at `i`, which Telegram drops after a pre block's opening.
fn skip_one_newline(text: &[u8], i: usize) -> usize {
    let c = byte_at(text, i);
    if c != b'\n' && c != b'\r' {
        return i;
    }
    let next = byte_at(text, i + 1);
    if (next == b'\n' || next == b'\r') && next != c { i + 2 } else { i + 1 }
}

/// Maps byte positions of a text to UTF-16 offsets.
struct Utf16Index(Vec<u32>);

impl Utf16Index {
    fn new(text: &str) -> Self {
        let mut map = vec![0u32; text.len() + 1];
        let mut units = 0u32;
        for (i, c) in text.char_indices() {
            map[i] = units;
            units = units.saturating_add(c.len_utf16() as u32);
        }
        map[text.len()] = units;
        Utf16Index(map)
    }

    fn at(&self, byte: usize) -> u32 {
        self.0.get(byte).copied().unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Links inside markup: tg://user and tg://emoji links, and the URL check Telegram applies to text links.

/// TDLib's `to_integer_safe<int64>`: digits (optionally after '-') that print back the same, so "025", "+5" and
/// "-0" are refused.
fn parse_i64_exact(s: &str) -> Option<i64> {
    let value: i64 = s.parse().ok()?;
    (value.to_string() == s).then_some(value)
}

/// The value of the first `name` parameter of a query (without '?' and '#'), "" when it has no '='.
fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').map(|p| p.split_once('=').unwrap_or((p, ""))).find(|(key, _)| *key == name).map(|(_, v)| v)
}

/// The query of a `tg://<host>?…` link (compared lowercased, as Telegram does), or why the link is not one.
fn tg_link_query(lower: &str, host: &str) -> Result<String, &'static str> {
    let rest = lower.strip_prefix("tg:").ok_or("scheme")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let rest = rest.strip_prefix(host).ok_or("host")?;
    if rest.bytes().next().is_some_and(|c| !matches!(c, b'/' | b'?' | b'#')) {
        return Err("host");
    }
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let query = rest.strip_prefix('?').ok_or("query")?;
    Ok(query.split('#').next().unwrap_or_default().to_owned())
}

/// The user a `tg://user?id=N` link mentions. Ids outside Plaza's id space are no user, so such a link stays a
/// text link, as Telegram keeps links to invalid user ids.
fn link_user_id(url: &str) -> Option<UserId> {
    let query = tg_link_query(&url.to_ascii_lowercase(), "user").ok()?;
    let id = parse_i64_exact(query_param(&query, "id")?)?;
    (1..=MAX_ID).contains(&id).then_some(UserId(id))
}

/// The custom emoji a `tg://emoji?id=N` link names, or Telegram's error for the link.
fn link_custom_emoji_id(url: &str) -> Result<String, FormatError> {
    let query = match tg_link_query(&url.to_ascii_lowercase(), "emoji") {
        Ok(query) => query,
        Err("scheme") => return fail("Custom emoji URL must have scheme tg"),
        Err("host") => return fail("Custom emoji URL must have host \"emoji\""),
        Err(_) => return fail("Custom emoji URL must have an emoji identifier"),
    };
    let Some(id) = query_param(&query, "id") else {
        return fail("Custom emoji URL must have an emoji identifier");
    };
    match parse_i64_exact(id) {
        Some(id) if id != 0 => Ok(id.to_string()),
        _ => fail("Invalid custom emoji identifier specified"),
    }
}

/// A URL as TDLib's `parse_url` reads it.
struct HttpUrl {
    https: bool,
    userinfo: String,
    host: String,
    is_ipv6: bool,
    specified_port: u32,
    /// Path, query and fragment; always starts with '/'.
    query: String,
}

impl HttpUrl {
    fn to_url(&self) -> String {
        let mut url = String::from(if self.https { "https://" } else { "http://" });
        if !self.userinfo.is_empty() {
            url.push_str(&self.userinfo);
            url.push('@');
        }
        url.push_str(&self.host);
        if self.specified_port > 0 {
            url.push(':');
            url.push_str(&self.specified_port.to_string());
        }
        url.push_str(&self.query);
        url
    }
}

/// Whether every byte of a URL host or user information is one RFC 3986 allows, a %-escape or non-ASCII.
fn valid_url_part(part: &[u8], allow_colon: bool) -> bool {
    let mut i = 0;
    while i < part.len() {
        let c = part[i];
        if c.is_ascii_alphanumeric() || b".-_!$,~*'();&+=".contains(&c) || (allow_colon && c == b':') || c >= 0x80 {
            i += 1;
        } else if c == b'%' && byte_at(part, i + 1).is_ascii_hexdigit() && byte_at(part, i + 2).is_ascii_hexdigit() {
            i += 3;
        } else {
            return false;
        }
    }
    true
}

/// TDLib's `parse_url` with http as the default protocol. Its errors never reach the user (a bad link just makes
/// no entity), so only whether it succeeds matters here.
fn parse_http_url(url: &str) -> Option<HttpUrl> {
    let bytes = url.as_bytes();
    let protocol_end = bytes.iter().position(|c| b":/?#@[]".contains(c)).unwrap_or(bytes.len());
    let (https, start) = if part(url, protocol_end, url.len()).starts_with("://") {
        match part(url, 0, protocol_end).to_ascii_lowercase().as_str() {
            "http" => (false, protocol_end + 3),
            "https" => (true, protocol_end + 3),
            _ => return None,
        }
    } else {
        (false, 0)
    };
    let authority_len = bytes.get(start..)?.iter().position(|c| b"/?#".contains(c)).unwrap_or(bytes.len() - start);
    let authority_end = start + authority_len;
    let authority = part(url, start, authority_end);

    // The port follows the last ':' that comes after any '@' or ']' (and is not the first character).
    let auth = authority.as_bytes();
    let mut port = 0i64;
    let mut userinfo_host = authority;
    if !auth.is_empty() {
        let mut k = auth.len() - 1;
        while k > 0 && !matches!(auth[k], b':' | b']' | b'@') {
            k -= 1;
        }
        if k > 0 && auth[k] == b':' {
            let mut digits = part(authority, k + 1, authority.len());
            while digits.len() > 1 && digits.starts_with('0') {
                digits = &digits[1..];
            }
            port = match parse_i64_exact(digits) {
                Some(p) if p != 0 => p,
                _ => -1,
            };
            userinfo_host = part(authority, 0, k);
        }
    }
    if !(0..=65535).contains(&port) {
        return None;
    }
    let (userinfo, host) = match userinfo_host.rfind('@') {
        Some(at) => (part(userinfo_host, 0, at), part(userinfo_host, at + 1, userinfo_host.len())),
        None => ("", userinfo_host),
    };
    let is_ipv6 = host.len() >= 2 && host.starts_with('[') && host.ends_with(']');
    if host.is_empty() || host == "." {
        return None;
    }

    let raw_query =
        part(url, authority_end, url.len()).trim_end_matches(|c: char| c.is_ascii() && is_td_space(c as u8));
    let raw_query = if raw_query.is_empty() { "/" } else { raw_query };
    let mut query = String::with_capacity(raw_query.len() + 1);
    if !raw_query.starts_with('/') {
        query.push('/');
    }
    for c in raw_query.chars() {
        if (c as u32) <= 0x20 {
            query.push_str(&format!("%{:02X}", c as u32));
        } else {
            query.push(c);
        }
    }

    let host = host.to_ascii_lowercase();
    if is_ipv6 {
        // TDLib asks the system to parse the address; Plaza settles for its alphabet, which is enough to tell a
        // link from garbage.
        let inner = part(&host, 1, host.len() - 1);
        if !inner.contains(':') || !inner.bytes().all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.') {
            return None;
        }
    } else if !valid_url_part(host.as_bytes(), false) || !valid_url_part(userinfo.as_bytes(), true) {
        return None;
    }
    Some(HttpUrl {
        https,
        userinfo: userinfo.to_owned(),
        host,
        is_ipv6,
        specified_port: u32::try_from(port).unwrap_or(0),
        query,
    })
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.as_bytes().get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// The normalized form of a text link's URL, or None when Telegram would drop the link (TDLib's
/// `get_checked_link`): http(s) links get a scheme and a path, tg:// and ton:// links keep theirs.
fn checked_link(link: &str) -> Option<String> {
    let scheme = ["tg", "ton", "tonsite"].into_iter().find(|s| starts_with_ignore_case(link, &format!("{s}:")));
    let mut rest = link;
    if let Some(scheme) = scheme {
        rest = part(link, scheme.len() + 1, link.len());
        rest = rest.strip_prefix("//").unwrap_or(rest);
    }
    let url = parse_http_url(rest)?;
    if let Some(scheme) = scheme {
        if starts_with_ignore_case(rest, "http://")
            || url.https
            || !url.userinfo.is_empty()
            || url.specified_port != 0
            || url.is_ipv6
        {
            return None;
        }
        let query = if url.query.as_bytes().get(1) == Some(&b'?') { &url.query[1..] } else { url.query.as_str() };
        let host_ok = url
            .host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || (scheme == "tonsite" && c == b'.'));
        return host_ok.then(|| format!("{scheme}://{}{query}", url.host));
    }
    if !url.host.contains('.') && !url.is_ipv6 {
        return None;
    }
    Some(url.to_url())
}

/// What a link in markup becomes: a mention of a user, a text link, or nothing when Telegram drops it.
fn link_entity(url: &str) -> Option<EntityKind> {
    if let Some(user_id) = link_user_id(url) {
        return Some(EntityKind::TextMention { user_id });
    }
    checked_link(url).map(|url| EntityKind::TextLink { url })
}

// ---------------------------------------------------------------------------------------------------------------
// HTML.

#[rustfmt::skip]
const HTML_TAGS: [&str; 16] = [
    "a", "b", "strong", "i", "em", "s", "strike", "del", "u",
    "ins", "tg-spoiler", "tg-emoji", "span", "pre", "code", "blockquote",
];

/// Decodes the character reference starting with '&' at `pos`: the code point and the position after it, or None
/// when Telegram leaves the text as it is (unknown names, zero, too long or out of range).
fn decode_html_entity(text: &[u8], pos: usize) -> Option<(u32, usize)> {
    let at = |i: usize| byte_at(text, i);
    let mut end = pos + 1;
    let code: u32;
    if at(pos + 1) == b'#' {
        end += 1;
        // Overflow only happens for references too long to be accepted below, so wrapping is harmless.
        let mut value = 0u32;
        if at(pos + 2) == b'x' {
            end += 1;
            while let Some(digit) = char::from(at(end)).to_digit(16) {
                value = value.wrapping_mul(16).wrapping_add(digit);
                end += 1;
            }
        } else {
            while at(end).is_ascii_digit() {
                value = value.wrapping_mul(10).wrapping_add(u32::from(at(end) - b'0'));
                end += 1;
            }
        }
        if value == 0 || value >= 0x10FFFF || end - pos >= 10 {
            return None;
        }
        code = value;
    } else {
        while at(end).is_ascii_alphabetic() {
            end += 1;
        }
        code = match text.get(pos + 1..end)? {
            b"lt" => u32::from(b'<'),
            b"gt" => u32::from(b'>'),
            b"amp" => u32::from(b'&'),
            b"quot" => u32::from(b'"'),
            _ => return None,
        };
    }
    Some((code, if at(end) == b';' { end + 1 } else { end }))
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// An entity found by the HTML parser; `<code>` keeps its language until `<pre>` around it claims it.
struct HtmlFound {
    kind: EntityKind,
    offset: usize,
    length: usize,
    language: String,
}

struct HtmlOpen {
    tag: String,
    argument: String,
    offset: usize,
    begin_pos: usize,
}

fn parse_html(input: &str) -> Result<Formatted, FormatError> {
    let text = input.as_bytes();
    let len = text.len();
    let at = |i: usize| byte_at(text, i);
    let mut out: Vec<u8> = Vec::with_capacity(len);
    let mut utf16 = 0usize;
    let mut found: Vec<HtmlFound> = Vec::new();
    let mut stack: Vec<HtmlOpen> = Vec::new();
    // A reference to half a surrogate pair cannot be text; Telegram reports it only once the markup parsed.
    let mut has_surrogate = false;

    let mut i = 0;
    while i < len {
        let c = text[i];
        if c == b'&'
            && let Some((code, next)) = decode_html_entity(text, i)
        {
            utf16 += if code > 0xFFFF { 2 } else { 1 };
            match char::from_u32(code) {
                Some(decoded) => push_char(&mut out, decoded),
                None => has_surrogate = true,
            }
            i = next;
            continue;
        }
        if c != b'<' {
            if starts_char(c) {
                utf16 += utf16_units(c);
            }
            out.push(c);
            i += 1;
            continue;
        }

        let begin_pos = i;
        i += 1;
        if at(i) != b'/' {
            while !is_td_space(at(i)) && at(i) != b'>' {
                i += 1;
            }
            if at(i) == 0 {
                return fail(format!("Unclosed start tag at byte offset {begin_pos}"));
            }
            let tag = part(input, begin_pos + 1, i).to_ascii_lowercase();
            if !HTML_TAGS.contains(&tag.as_str()) {
                return fail(format!("Unsupported start tag \"{tag}\" at byte offset {begin_pos}"));
            }

            let mut argument = String::new();
            while at(i) != b'>' {
                while at(i) != 0 && is_td_space(at(i)) {
                    i += 1;
                }
                if at(i) == b'>' {
                    break;
                }
                let name_begin = i;
                while !is_td_space(at(i)) && !matches!(at(i), b'=' | b'>' | b'/' | b'"' | b'\'') {
                    i += 1;
                }
                // Telegram compares attribute names as written: `HREF` is not `href`.
                let name = part(input, name_begin, i);
                if name.is_empty() {
                    return fail(format!("Empty attribute name in the tag \"{tag}\" at byte offset {begin_pos}"));
                }
                while at(i) != 0 && is_td_space(at(i)) {
                    i += 1;
                }
                if at(i) != b'=' {
                    if at(i) == 0 {
                        return fail(format!("Unclosed start tag \"{tag}\" at byte offset {begin_pos}"));
                    }
                    if tag == "blockquote" && name == "expandable" {
                        argument = "1".to_owned();
                    }
                    continue;
                }
                i += 1;
                while at(i) != 0 && is_td_space(at(i)) {
                    i += 1;
                }
                if at(i) == 0 {
                    return fail(format!("Unclosed start tag \"{tag}\" at byte offset {begin_pos}"));
                }

                let value = if at(i) != b'\'' && at(i) != b'"' {
                    // An unquoted value is an HTML name token, which is case-insensitive.
                    let token_begin = i;
                    while at(i).is_ascii_alphanumeric() || at(i) == b'.' || at(i) == b'-' {
                        i += 1;
                    }
                    if !is_td_space(at(i)) && at(i) != b'>' {
                        return fail(format!("Unexpected end of name token at byte offset {token_begin}"));
                    }
                    part(input, token_begin, i).to_ascii_lowercase()
                } else {
                    let quote = at(i);
                    i += 1;
                    let mut value = Vec::new();
                    while at(i) != quote && at(i) != 0 {
                        if at(i) == b'&'
                            && let Some((code, next)) = decode_html_entity(text, i)
                        {
                            push_char(&mut value, char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                            i = next;
                            continue;
                        }
                        value.push(at(i));
                        i += 1;
                    }
                    if at(i) == quote {
                        i += 1;
                    }
                    into_string(value)
                };
                if at(i) == 0 {
                    return fail(format!("Unclosed start tag at byte offset {begin_pos}"));
                }
                match (tag.as_str(), name) {
                    ("a", "href") | ("tg-emoji", "emoji-id") => argument = value,
                    ("code", "class") => {
                        if let Some(language) = value.strip_prefix("language-") {
                            argument = language.to_owned();
                        }
                    }
                    ("span", "class") => {
                        if let Some(class) = value.strip_prefix("tg-") {
                            argument = class.to_owned();
                        }
                    }
                    ("blockquote", "expandable") => argument = "1".to_owned(),
                    _ => {}
                }
            }
            if tag == "span" && argument != "spoiler" {
                return fail(format!("Tag \"span\" must have class \"tg-spoiler\" at byte offset {begin_pos}"));
            }
            stack.push(HtmlOpen { tag, argument, offset: utf16, begin_pos: out.len() });
        } else {
            if stack.is_empty() {
                return fail(format!("Unexpected end tag at byte offset {begin_pos}"));
            }
            while !is_td_space(at(i)) && at(i) != b'>' {
                i += 1;
            }
            let end_tag = part(input, begin_pos + 2, i).to_ascii_lowercase();
            while at(i) != 0 && is_td_space(at(i)) {
                i += 1;
            }
            if at(i) != b'>' {
                return fail(format!("Unclosed end tag at byte offset {begin_pos}"));
            }
            let Some(open) = stack.pop() else {
                return fail(format!("Unexpected end tag at byte offset {begin_pos}"));
            };
            // `</>` closes whatever is open, as Telegram allows.
            if !end_tag.is_empty() && end_tag != open.tag {
                return fail(format!(
                    "Unmatched end tag at byte offset {begin_pos}, expected \"</{}>\", found \"</{end_tag}>\"",
                    open.tag
                ));
            }
            if utf16 > open.offset {
                close_html_tag(&mut found, open, utf16, &out)?;
            }
        }
        i += 1;
    }
    if let Some(open) = stack.last() {
        return fail(format!("Can't find end tag corresponding to start tag \"{}\"", open.tag));
    }
    if has_surrogate {
        return fail(
            "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched surrogate \
             code units",
        );
    }

    // `<pre><code>…</code></pre>` is the documented way to write a code block; Telegram keeps only the pre entity
    // of the two (it lets nothing nest in pre), and so does Plaza.
    let pre_spans: Vec<(usize, usize)> =
        found.iter().filter(|f| matches!(f.kind, EntityKind::Pre { .. })).map(|f| (f.offset, f.length)).collect();
    let mut entities: Vec<Entity> = found
        .into_iter()
        .filter(|f| !(f.kind == EntityKind::Code && pre_spans.contains(&(f.offset, f.length))))
        .map(|f| make_entity(f.kind, f.offset, f.offset + f.length))
        .collect();
    sort_entities(&mut entities);
    Ok(Formatted { text: into_string(out), entities })
}

/// Records the entity a closed, non-empty tag makes.
fn close_html_tag(found: &mut Vec<HtmlFound>, open: HtmlOpen, utf16: usize, out: &[u8]) -> Result<(), FormatError> {
    let (offset, length) = (open.offset, utf16 - open.offset);
    let simple = |kind| HtmlFound { kind, offset, length, language: String::new() };
    let same_span = |f: &HtmlFound| f.offset == offset && f.length == length;
    match open.tag.as_str() {
        "i" | "em" => found.push(simple(EntityKind::Italic)),
        "b" | "strong" => found.push(simple(EntityKind::Bold)),
        "s" | "strike" | "del" => found.push(simple(EntityKind::Strikethrough)),
        "u" | "ins" => found.push(simple(EntityKind::Underline)),
        "tg-spoiler" | "span" => found.push(simple(EntityKind::Spoiler)),
        "tg-emoji" => match parse_i64_exact(&open.argument) {
            Some(id) if id != 0 => found.push(simple(EntityKind::CustomEmoji { custom_emoji_id: id.to_string() })),
            _ => return fail("Invalid custom emoji identifier specified"),
        },
        "a" => {
            // A link without href links to its own text.
            let url = if open.argument.is_empty() {
                into_string(out.get(open.begin_pos..).unwrap_or_default().to_vec())
            } else {
                open.argument
            };
            if let Some(kind) = link_entity(&url) {
                found.push(simple(kind));
            }
        }
        "pre" => match found.last_mut() {
            // `<pre>` around `<code class="language-x">` of the same text is one code block in language x.
            Some(last) if last.kind == EntityKind::Code && same_span(last) && !last.language.is_empty() => {
                last.kind = EntityKind::Pre { language: Some(std::mem::take(&mut last.language)) };
            }
            _ => found.push(simple(EntityKind::Pre { language: None })),
        },
        "code" => match found.last_mut() {
            Some(last)
                if last.kind == (EntityKind::Pre { language: None })
                    && same_span(last)
                    && !open.argument.is_empty() =>
            {
                last.kind = EntityKind::Pre { language: Some(open.argument) };
            }
            _ => found.push(HtmlFound { kind: EntityKind::Code, offset, length, language: open.argument }),
        },
        "blockquote" if !open.argument.is_empty() => found.push(simple(EntityKind::ExpandableBlockquote)),
        "blockquote" => found.push(simple(EntityKind::Blockquote)),
        // Every other tag was refused when it opened.
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// MarkdownV2.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MdKind {
    Bold,
    Italic,
    Underline,
    Strikethrough,
    Spoiler,
    Code,
    Pre,
    PreCode,
    TextUrl,
    CustomEmoji,
    BlockQuote,
}

impl MdKind {
    /// TDLib's name for the kind, which its error messages show.
    fn name(self) -> &'static str {
        match self {
            MdKind::Bold => "Bold",
            MdKind::Italic => "Italic",
            MdKind::Underline => "Underline",
            MdKind::Strikethrough => "Strikethrough",
            MdKind::Spoiler => "Spoiler",
            MdKind::Code => "Code",
            MdKind::Pre => "Pre",
            MdKind::PreCode => "PreCode",
            MdKind::TextUrl => "TextUrl",
            MdKind::CustomEmoji => "CustomEmoji",
            MdKind::BlockQuote => "BlockQuote",
        }
    }
}

struct MdOpen {
    kind: MdKind,
    language: String,
    /// UTF-16 offset in the output where the entity starts.
    offset: usize,
    /// Byte offset in the input of the entity's opening marker, for error messages.
    byte_offset: usize,
    /// Byte position in the output where the entity's text starts.
    begin_pos: usize,
}

fn reserved_error<T>(c: u8) -> Result<T, FormatError> {
    fail(format!("Character '{}' is reserved and must be escaped with the preceding '\\'", char::from(c)))
}

fn unclosed_error<T>(open: &MdOpen) -> Result<T, FormatError> {
    fail(format!("Can't find end of {} entity at byte offset {}", open.kind.name(), open.byte_offset))
}

/// Reads the "(…)" part of a link or custom emoji starting at the '(' at `i`, where only ')' and '\' need escaping.
/// Returns the URL, the position of its ')' (or of the end of the text) and the byte offset where it starts.
fn read_md_url(text: &[u8], i: usize) -> (String, usize, usize) {
    let url_begin = i + 1;
    let mut i = url_begin;
    let mut url = Vec::new();
    while i < text.len() && text[i] != b')' {
        let next = byte_at(text, i + 1);
        if text[i] == b'\\' && (1..=126).contains(&next) {
            url.push(next);
            i += 2;
        } else {
            url.push(text[i]);
            i += 1;
        }
    }
    (into_string(url), i, url_begin)
}

fn parse_markdown_v2(input: &str) -> Result<Formatted, FormatError> {
    let text = input.as_bytes();
    let len = text.len();
    let at = |i: usize| byte_at(text, i);
    let mut out: Vec<u8> = Vec::with_capacity(len);
    let mut utf16 = 0usize;
    let mut entities: Vec<Entity> = Vec::new();
    let mut stack: Vec<MdOpen> = Vec::new();
    let mut have_blockquote = false;
    // A '>' opens a quote only at the start of a line, before any text of it (a '\r' does not count as text).
    let mut can_start_blockquote = true;

    let mut i = 0;
    while i < len {
        let c = text[i];
        if c == b'\\' && (1..=126).contains(&at(i + 1)) {
            let escaped = at(i + 1);
            utf16 += 1;
            out.push(escaped);
            if escaped != b'\r' {
                can_start_blockquote = escaped == b'\n';
            }
            i += 2;
            continue;
        }

        let top = stack.last().map(|open| open.kind);
        let in_code = matches!(top, Some(MdKind::Code | MdKind::Pre | MdKind::PreCode));
        let reserved: &[u8] = if in_code { b"`" } else { b"_*[]()~`>#+-=|{}.!\n" };
        if !reserved.contains(&c) {
            if starts_char(c) {
                utf16 += utf16_units(c);
                if c != b'\r' {
                    can_start_blockquote = false;
                }
            }
            out.push(c);
            i += 1;
            continue;
        }

        let is_end = match top {
            None => false,
            // A line that does not continue the quote ends it, and whatever is still open inside it.
            Some(_) if have_blockquote && c == b'\n' && at(i + 1) != b'>' => true,
            Some(MdKind::Bold) => c == b'*',
            Some(MdKind::Italic) => c == b'_' && at(i + 1) != b'_',
            Some(MdKind::Code) => c == b'`',
            Some(MdKind::Pre | MdKind::PreCode) => c == b'`' && at(i + 1) == b'`' && at(i + 2) == b'`',
            Some(MdKind::TextUrl | MdKind::CustomEmoji) => c == b']',
            Some(MdKind::Underline) => c == b'_' && at(i + 1) == b'_',
            Some(MdKind::Strikethrough) => c == b'~',
            Some(MdKind::Spoiler) => c == b'|' && at(i + 1) == b'|',
            Some(MdKind::BlockQuote) => false,
        };

        if !is_end {
            let byte_offset = i;
            let mut language = String::new();
            let mut next = i + 1;
            let kind = match c {
                b'_' if at(i + 1) == b'_' => {
                    next = i + 2;
                    MdKind::Underline
                }
                b'_' => MdKind::Italic,
                b'*' => MdKind::Bold,
                b'~' => MdKind::Strikethrough,
                b'|' if at(i + 1) == b'|' => {
                    next = i + 2;
                    MdKind::Spoiler
                }
                b'[' => MdKind::TextUrl,
                b'`' if at(i + 1) == b'`' && at(i + 2) == b'`' => {
                    let mut j = i + 3;
                    let mut kind = MdKind::Pre;
                    let mut language_end = j;
                    while !is_td_space(at(language_end)) && at(language_end) != b'`' {
                        language_end += 1;
                    }
                    if j != language_end && language_end < len && at(language_end) != b'`' {
                        kind = MdKind::PreCode;
                        language = part(input, j, language_end).to_owned();
                        j = language_end;
                    }
                    next = skip_one_newline(text, j);
                    kind
                }
                b'`' => MdKind::Code,
                b'!' if at(i + 1) == b'[' => {
                    next = i + 2;
                    MdKind::CustomEmoji
                }
                b'\n' => {
                    utf16 += 1;
                    out.push(b'\n');
                    can_start_blockquote = true;
                    i += 1;
                    continue;
                }
                b'>' if can_start_blockquote => {
                    i += 1;
                    if have_blockquote {
                        // The '>' continuing a quote on its next line is only a marker.
                        continue;
                    }
                    have_blockquote = true;
                    stack.push(MdOpen {
                        kind: MdKind::BlockQuote,
                        language,
                        offset: utf16,
                        byte_offset,
                        begin_pos: out.len(),
                    });
                    continue;
                }
                _ => return reserved_error(c),
            };
            stack.push(MdOpen { kind, language, offset: utf16, byte_offset, begin_pos: out.len() });
            i = next;
            continue;
        }

        let Some(mut open) = stack.pop() else {
            return reserved_error(c);
        };
        let mut expandable = false;
        if c == b'\n' && open.kind != MdKind::BlockQuote {
            // Only "||" right at the end of a quote's last line may stay open: it marks the quote expandable.
            let bare_spoiler = open.kind == MdKind::Spoiler
                && (open.byte_offset + 2 == i || (open.byte_offset + 3 == i && out.last() == Some(&b'\r')));
            if !bare_spoiler {
                return unclosed_error(&open);
            }
            match stack.pop() {
                Some(quote) if quote.kind == MdKind::BlockQuote => {
                    open = quote;
                    expandable = true;
                }
                Some(other) => return unclosed_error(&other),
                None => return unclosed_error(&open),
            }
        }

        let mut skip = utf16 == open.offset;
        let kind = match open.kind {
            MdKind::Bold => Some(EntityKind::Bold),
            MdKind::Italic => Some(EntityKind::Italic),
            MdKind::Code => Some(EntityKind::Code),
            MdKind::Strikethrough => Some(EntityKind::Strikethrough),
            MdKind::Underline => {
                i += 1;
                Some(EntityKind::Underline)
            }
            MdKind::Spoiler => {
                i += 1;
                Some(EntityKind::Spoiler)
            }
            MdKind::Pre => {
                i += 2;
                Some(EntityKind::Pre { language: None })
            }
            MdKind::PreCode => {
                i += 2;
                Some(EntityKind::Pre { language: Some(std::mem::take(&mut open.language)) })
            }
            MdKind::TextUrl => {
                let url = if at(i + 1) != b'(' {
                    // "[text]" without "(url)" links to its own text.
                    into_string(out.get(open.begin_pos..).unwrap_or_default().to_vec())
                } else {
                    let (url, close, url_begin) = read_md_url(text, i + 1);
                    if at(close) != b')' {
                        return fail(format!("Can't find end of a URL at byte offset {url_begin}"));
                    }
                    i = close;
                    url
                };
                let kind = link_entity(&url);
                skip |= kind.is_none();
                kind
            }
            MdKind::CustomEmoji => {
                if at(i + 1) != b'(' {
                    return fail("Custom emoji entity must contain a tg://emoji URL");
                }
                let (url, close, url_begin) = read_md_url(text, i + 1);
                if at(close) != b')' {
                    return fail(format!("Can't find end of a custom emoji URL at byte offset {url_begin}"));
                }
                i = close;
                Some(EntityKind::CustomEmoji { custom_emoji_id: link_custom_emoji_id(&url)? })
            }
            MdKind::BlockQuote => {
                // The line break that ends a quote belongs to it.
                have_blockquote = false;
                out.push(c);
                utf16 += 1;
                can_start_blockquote = true;
                skip = false;
                Some(if expandable { EntityKind::ExpandableBlockquote } else { EntityKind::Blockquote })
            }
        };
        if let Some(kind) = kind.filter(|_| !skip) {
            entities.push(make_entity(kind, open.offset, utf16));
        }
        i += 1;
    }

    if have_blockquote {
        // A quote may run to the end of the text, and "||" at the very end makes it expandable.
        let mut expandable = false;
        if stack.last().is_some_and(|top| top.kind == MdKind::Spoiler && top.byte_offset + 2 == len) {
            stack.pop();
            expandable = true;
        }
        if stack.last().is_some_and(|top| top.kind == MdKind::BlockQuote)
            && let Some(quote) = stack.pop()
            && utf16 > quote.offset
        {
            let kind = if expandable { EntityKind::ExpandableBlockquote } else { EntityKind::Blockquote };
            entities.push(make_entity(kind, quote.offset, utf16));
        }
    }
    if let Some(open) = stack.last() {
        return unclosed_error(open);
    }
    sort_entities(&mut entities);
    Ok(Formatted { text: into_string(out), entities })
}

// ---------------------------------------------------------------------------------------------------------------
// Legacy Markdown.

fn parse_markdown(input: &str) -> Result<Formatted, FormatError> {
    let text = input.as_bytes();
    let len = text.len();
    let at = |i: usize| byte_at(text, i);
    let mut out: Vec<u8> = Vec::with_capacity(len);
    let mut utf16 = 0usize;
    let mut entities: Vec<Entity> = Vec::new();

    let mut i = 0;
    while i < len {
        let c = text[i];
        if c == b'\\' && matches!(at(i + 1), b'_' | b'*' | b'`' | b'[') {
            out.push(at(i + 1));
            utf16 += 1;
            i += 2;
            continue;
        }
        if !matches!(c, b'_' | b'*' | b'`' | b'[') {
            if starts_char(c) {
                utf16 += utf16_units(c);
            }
            out.push(c);
            i += 1;
            continue;
        }

        let begin_pos = i;
        let end_char = if c == b'[' { b']' } else { c };
        let mut is_pre = false;
        let mut language = String::new();
        i += 1;
        if c == b'`' && at(i) == b'`' && at(i + 1) == b'`' {
            i += 2;
            is_pre = true;
            let mut language_end = i;
            while !is_td_space(at(language_end)) && at(language_end) != b'`' {
                language_end += 1;
            }
            if i != language_end && language_end < len && at(language_end) != b'`' {
                language = part(input, i, language_end).to_owned();
                i = language_end;
            }
            i = skip_one_newline(text, i);
        }

        // Legacy Markdown has no nesting and no escapes inside an entity: everything up to the end marker is text.
        let entity_offset = utf16;
        while i < len && (text[i] != end_char || (is_pre && !(at(i + 1) == b'`' && at(i + 2) == b'`'))) {
            if starts_char(text[i]) {
                utf16 += utf16_units(text[i]);
            }
            out.push(text[i]);
            i += 1;
        }
        if i >= len {
            return fail(format!("Can't find end of the entity starting at byte offset {begin_pos}"));
        }

        if entity_offset != utf16 {
            let kind = match c {
                b'_' => Some(EntityKind::Italic),
                b'*' => Some(EntityKind::Bold),
                b'[' => {
                    let url = if at(i + 1) != b'(' {
                        part(input, begin_pos + 1, i).to_owned()
                    } else {
                        let url_begin = i + 2;
                        i = url_begin;
                        while i < len && text[i] != b')' {
                            i += 1;
                        }
                        part(input, url_begin, i).to_owned()
                    };
                    link_entity(&url)
                }
                _ if is_pre => Some(EntityKind::Pre { language: (!language.is_empty()).then_some(language) }),
                _ => Some(EntityKind::Code),
            };
            if let Some(kind) = kind {
                entities.push(make_entity(kind, entity_offset, utf16));
            }
        }
        if is_pre {
            i += 2;
        }
        i += 1;
    }
    sort_entities(&mut entities);
    Ok(Formatted { text: into_string(out), entities })
}

// ---------------------------------------------------------------------------------------------------------------
// Detection. Each matcher returns byte ranges of the text.

fn char_before(s: &str, pos: usize) -> Option<(usize, char)> {
    let c = s.get(..pos)?.chars().next_back()?;
    Some((pos - c.len_utf8(), c))
}

fn char_at(s: &str, pos: usize) -> Option<(char, usize)> {
    let c = s.get(pos..)?.chars().next()?;
    Some((c, pos + c.len_utf8()))
}

fn find_byte(bytes: &[u8], from: usize, needle: u8) -> Option<usize> {
    bytes.get(from..)?.iter().position(|&c| c == needle).map(|p| from + p)
}

/// Letters, digits and '_': what may not touch a mention or command.
fn is_word_character(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_username_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// What may appear in a hashtag (and may not touch a cashtag).
fn is_hashtag_letter(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '\u{200c}' | '\u{b7}' | '\u{d80}'..='\u{dff}')
}

fn match_mentions(s: &str) -> Vec<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut result = Vec::new();
    let mut from = 0;
    while let Some(at) = find_byte(bytes, from, b'@') {
        from = at + 1;
        // '@' after a letter is an email or a word, not a mention.
        if char_before(s, at).is_some_and(|(_, prev)| is_word_character(prev)) {
            continue;
        }
        let mut end = at + 1;
        while end < bytes.len() && is_username_byte(bytes[end]) {
            end += 1;
        }
        from = end;
        let name_len = end - at - 1;
        if !(MIN_MENTION_LEN..=MAX_MENTION_LEN).contains(&name_len) {
            continue;
        }
        if char_at(s, end).is_some_and(|(next, _)| is_word_character(next)) {
            continue;
        }
        result.push((at, end));
    }
    result
}

fn match_bot_commands(s: &str) -> Vec<(usize, usize)> {
    let bytes = s.as_bytes();
    let touches_command = |c: char| is_word_character(c) || matches!(c, '/' | '<' | '>');
    let mut result = Vec::new();
    let mut from = 0;
    while let Some(slash) = find_byte(bytes, from, b'/') {
        from = slash + 1;
        if char_before(s, slash).is_some_and(|(_, prev)| touches_command(prev)) {
            continue;
        }
        let mut end = slash + 1;
        while end < bytes.len() && is_username_byte(bytes[end]) {
            end += 1;
        }
        from = end;
        if !(1..=MAX_COMMAND_LEN).contains(&(end - slash - 1)) {
            continue;
        }
        if byte_at(bytes, end) == b'@' {
            let bot_begin = end + 1;
            let mut bot_end = bot_begin;
            while bot_end < bytes.len() && is_username_byte(bytes[bot_end]) {
                bot_end += 1;
            }
            from = bot_end;
            if !(3..=32).contains(&(bot_end - bot_begin)) {
                continue;
            }
            end = bot_end;
        }
        if char_at(s, end).is_some_and(|(next, _)| touches_command(next)) {
            continue;
        }
        result.push((slash, end));
    }
    result
}

fn match_hashtags(s: &str) -> Vec<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut result = Vec::new();
    let mut from = 0;
    while let Some(hash) = find_byte(bytes, from, b'#') {
        from = hash + 1;
        if char_before(s, hash).is_some_and(|(_, prev)| is_hashtag_letter(prev)) {
            continue;
        }
        let mut pos = hash + 1;
        let mut count = 0;
        let mut cut = None;
        let mut has_letter = false;
        while let Some((c, next)) = char_at(s, pos) {
            if !is_hashtag_letter(c) {
                break;
            }
            pos = next;
            if count == MAX_HASHTAG_LEN - 1 {
                cut = Some(pos);
            }
            if count != MAX_HASHTAG_LEN {
                has_letter |= c.is_alphabetic();
                count += 1;
            }
        }
        from = pos;
        // A '#' right after the tag makes it something else ("#a#b"), and a tag needs a letter ("#42" is none).
        if count == 0 || byte_at(bytes, pos) == b'#' || !has_letter {
            continue;
        }
        result.push((hash, cut.unwrap_or(pos)));
    }
    result
}

fn match_cashtags(s: &str) -> Vec<(usize, usize)> {
    let bytes = s.as_bytes();
    let touches_cashtag = |c: char| is_hashtag_letter(c) || c == '$';
    let mut result = Vec::new();
    let mut from = 0;
    while let Some(dollar) = find_byte(bytes, from, b'$') {
        from = dollar + 1;
        if char_before(s, dollar).is_some_and(|(_, prev)| touches_cashtag(prev)) {
            continue;
        }
        let mut end = dollar + 1;
        while end < bytes.len() && bytes[end].is_ascii_uppercase() {
            end += 1;
        }
        from = end;
        if !(MIN_CASHTAG_LEN..=MAX_CASHTAG_LEN).contains(&(end - dollar - 1)) {
            continue;
        }
        if char_at(s, end).is_some_and(|(next, _)| touches_cashtag(next)) {
            continue;
        }
        result.push((dollar, end));
    }
    result
}

/// Characters a URL may not end with; they are more likely punctuation of the sentence around it.
const BAD_PATH_END: &[u8] = b".:;,('?!`";

/// Spaces and line breaks of any script end a URL.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
}

fn is_url_unicode_symbol(c: char) -> bool {
    if ('\u{2000}'..='\u{206f}').contains(&c) {
        // Of general punctuation only zero-width (non-)joiners and dashes belong to URLs.
        return matches!(c, '\u{200c}' | '\u{200d}' | '\u{2010}'..='\u{2015}');
    }
    !is_separator(c)
}

fn is_url_path_symbol(c: char) -> bool {
    !matches!(c, '\n' | '<' | '>' | '"' | '«' | '»') && is_url_unicode_symbol(c)
}

fn is_user_data_symbol(c: char) -> bool {
    !matches!(c, '\n' | '/' | '[' | ']' | '{' | '}' | '(' | ')' | '\'' | '`' | '<' | '>' | '"' | '@' | '«' | '»')
        && is_url_unicode_symbol(c)
}

fn is_domain_symbol(c: char) -> bool {
    if (c as u32) < 0xC0 {
        return c == '.' || c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '~');
    }
    is_url_unicode_symbol(c)
}

fn is_protocol_symbol(c: char) -> bool {
    if c.is_ascii() {
        // Dots may not be part of a protocol.
        return c.is_ascii_alphanumeric() || c == '+' || c == '-';
    }
    // Non-ASCII letters are taken in so that the protocol they spoil is rejected as a whole.
    !is_separator(c)
}

/// `tg://…` and `ton://…` links.
fn match_tg_urls(s: &str) -> Vec<(usize, usize)> {
    let bytes = s.as_bytes();
    let len = bytes.len();
    let mut result = Vec::new();
    let mut pos = 0;
    while len - pos > 5 {
        let Some(colon) = find_byte(bytes, pos, b':') else { break };
        pos = colon;
        let mut url_begin = None;
        if bytes.get(colon + 1..colon + 3) == Some(b"//") {
            let lower = |i: usize| bytes[i].to_ascii_lowercase();
            if colon >= 2 && lower(colon - 2) == b't' && lower(colon - 1) == b'g' {
                url_begin = Some(colon - 2);
            } else if colon >= 3 && lower(colon - 3) == b't' && lower(colon - 2) == b'o' && lower(colon - 1) == b'n' {
                url_begin = Some(colon - 3);
            }
        }
        let Some(url_begin) = url_begin else {
            pos += 1;
            continue;
        };
        pos += 3;
        let domain_begin = pos;
        while pos < len && pos - domain_begin != 253 && (is_username_byte(bytes[pos]) || bytes[pos] == b'-') {
            pos += 1;
        }
        if pos == domain_begin {
            continue;
        }
        if pos < len && matches!(bytes[pos], b'/' | b'?' | b'#') {
            let mut path_end = pos + 1;
            while let Some((c, next)) = char_at(s, path_end) {
                if !is_url_path_symbol(c) {
                    break;
                }
                path_end = next;
            }
            while path_end > pos + 1 && BAD_PATH_END.contains(&bytes[path_end - 1]) {
                path_end -= 1;
            }
            if bytes[pos] == b'/' || path_end > pos + 1 {
                pos = path_end;
            }
        }
        result.push((url_begin, pos));
    }
    result
}

/// Candidate URLs and emails around every '.', before the checks of `find_urls` (TDLib's `match_urls`).
fn match_urls(s: &str) -> Vec<(usize, usize)> {
    let bytes = s.as_bytes();
    let len = bytes.len();
    let mut result = Vec::new();
    // Scans never look back before `begin`, the end of the previous candidate.
    let mut begin = 0;
    while let Some(dot) = find_byte(bytes, begin, b'.') {
        if dot + 1 == len {
            break;
        }
        if bytes[dot + 1] == b' ' {
            begin = dot + 2;
            continue;
        }

        let mut domain_begin = dot;
        while domain_begin > begin {
            match char_before(s, domain_begin) {
                Some((start, c)) if is_domain_symbol(c) => domain_begin = start,
                _ => break,
            }
        }
        let mut last_at = None;
        let mut domain_end = dot;
        while let Some((c, next)) = char_at(s, domain_end) {
            if c == '@' {
                last_at = Some(domain_end);
            } else if !is_domain_symbol(c) {
                break;
            }
            domain_end = next;
        }
        if last_at.is_some() {
            while domain_begin > begin {
                match char_before(s, domain_begin) {
                    Some((start, c)) if is_user_data_symbol(c) => domain_begin = start,
                    _ => break,
                }
            }
        }

        let mut url_end = domain_end;
        if byte_at(bytes, url_end) == b':' {
            let mut port_end = url_end + 1;
            while port_end < len && bytes[port_end].is_ascii_digit() {
                port_end += 1;
            }
            let mut port_begin = url_end + 1;
            while port_begin != port_end && bytes[port_begin] == b'0' {
                port_begin += 1;
            }
            let port_ok = port_begin != port_end
                && port_end - port_begin <= 5
                && part(s, port_begin, port_end).parse::<u32>().is_ok_and(|p| p <= 65535);
            if port_ok {
                url_end = port_end;
            }
        }
        if url_end < len && matches!(bytes[url_end], b'/' | b'?' | b'#') {
            let mut path_end = url_end + 1;
            while let Some((c, next)) = char_at(s, path_end) {
                if !is_url_path_symbol(c) {
                    break;
                }
                path_end = next;
            }
            while path_end > url_end + 1 && BAD_PATH_END.contains(&bytes[path_end - 1]) {
                path_end -= 1;
            }
            if bytes[url_end] == b'/' || path_end > url_end + 1 {
                url_end = path_end;
            }
        }
        while url_end > dot + 1 && bytes[url_end - 1] == b'.' {
            url_end -= 1;
        }

        let mut is_bad = false;
        let mut url_begin = domain_begin;
        if url_begin > begin && bytes[url_begin - 1] == b'@' {
            if last_at.is_some() {
                is_bad = true;
            }
            let mut user_begin = url_begin - 1;
            while user_begin > begin {
                match char_before(s, user_begin) {
                    Some((start, c)) if is_user_data_symbol(c) => user_begin = start,
                    _ => break,
                }
            }
            if user_begin == url_begin - 1 {
                is_bad = true;
            }
            url_begin = user_begin;
        }
        if url_begin > begin {
            let prefix = &bytes[begin..url_begin];
            if prefix.len() >= 6 && prefix.ends_with(b"://") {
                let mut protocol_begin = url_begin - 3;
                while protocol_begin > begin {
                    match char_before(s, protocol_begin) {
                        Some((start, c)) if is_protocol_symbol(c) => protocol_begin = start,
                        _ => break,
                    }
                }
                let protocol = part(s, protocol_begin, url_begin - 3).to_ascii_lowercase();
                if protocol.ends_with("http") && protocol != "shttp" {
                    url_begin -= 7;
                } else if protocol.ends_with("https") {
                    url_begin -= 8;
                } else if protocol.ends_with("ftp") && protocol != "tftp" && protocol != "sftp" {
                    url_begin -= 6;
                } else {
                    is_bad = true;
                }
            } else if char_before(s, url_begin)
                .is_some_and(|(_, c)| is_word_character(c) || matches!(c, '/' | '#' | '@'))
            {
                is_bad = true;
            }
        }

        if !is_bad {
            if url_end > dot + 1 {
                result.push((url_begin, url_end));
            }
            while url_end < len && bytes[url_end] == b'.' {
                url_end += 1;
            }
        } else {
            while url_end > dot + 1 && bytes[url_end - 1] != b'.' {
                url_end -= 1;
            }
        }
        begin = url_end.max(dot + 1);
    }
    result
}

/// TDLib's email rule: `([a-z0-9_-]{0,26}[.+]){0,10}[a-z0-9_-]{1,35}@(([a-z0-9][a-z0-9_-]{0,28})?[a-z0-9][.]){1,6}[a-z]{2,8}`.
fn is_email_address(s: &str) -> bool {
    let Some((user, domain)) = s.split_once('@') else { return false };
    if domain.is_empty() {
        return false;
    }
    let is_part_byte = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    let mut prev = 0;
    let mut user_parts = 0;
    for (i, &c) in user.as_bytes().iter().enumerate() {
        if c == b'.' || c == b'+' {
            if i - prev >= 27 {
                return false;
            }
            user_parts += 1;
            prev = i + 1;
        } else if !is_part_byte(c) {
            return false;
        }
    }
    let last_part = user.len() - prev;
    if user_parts + 1 >= 12 || last_part == 0 || last_part >= 36 {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let Some((tld, labels)) = labels.split_last() else { return false };
    if labels.is_empty() || labels.len() > 6 || tld.len() <= 1 || tld.len() >= 9 {
        return false;
    }
    if !tld.bytes().all(|c| c.is_ascii_alphabetic()) {
        return false;
    }
    labels.iter().all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.len() < 31
            && b.iter().all(|&c| is_part_byte(c))
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
    })
}

/// Top-level domains a bare domain (without "http://") must end in to count as a link. This is the commonly used
/// part of the list TDLib carries (every country code, the old generic ones and the popular new ones); Telegram's
/// full list has about 1,500 entries, mostly brand names.
#[rustfmt::skip]
const COMMON_TLDS: &[&str] = &[
    "ac", "academy", "ad", "ae", "aero", "af", "ag", "agency", "ai", "al", "am", "ao", "app", "aq", "ar", "art", "as",
    "asia", "at", "au", "aw", "ax", "az", "ba", "bb", "bd", "be", "bf", "bg", "bh", "bi", "bike", "biz", "bj", "blog",
    "bm", "bn", "bo", "br", "bs", "bt", "bv", "bw", "by", "bz", "ca", "cafe", "cat", "cc", "cd", "center", "cf", "cg",
    "ch", "chat", "ci", "ck", "cl", "click", "cloud", "club", "cm", "cn", "co", "com", "company", "coop", "cr", "cu",
    "cv", "cw", "cx", "cy", "cz", "de", "design", "dev", "digital", "dj", "dk", "dm", "do", "dz", "ec", "edu", "ee",
    "eg", "email", "er", "es", "et", "eu", "fi", "fj", "fk", "fm", "fo", "fr", "fun", "ga", "game", "games", "gb", "gd",
    "ge", "gf", "gg", "gh", "gi", "gl", "gm", "gn", "gov", "gp", "gq", "gr", "group", "gs", "gt", "gu", "guru", "gw",
    "gy", "hk", "hm", "hn", "host", "hr", "ht", "hu", "icu", "id", "ie", "il", "im", "in", "info", "int", "io", "iq",
    "ir", "is", "it", "je", "jm", "jo", "jobs", "jp", "ke", "kg", "kh", "ki", "km", "kn", "kp", "kr", "kw", "ky", "kz",
    "la", "lb", "lc", "li", "life", "link", "live", "lk", "lr", "ls", "lt", "lu", "lv", "ly", "ma", "mc", "md", "me",
    "media", "mg", "mh", "mil", "mk", "ml", "mm", "mn", "mo", "mobi", "moe", "mp", "mq", "mr", "ms", "mt", "mu",
    "museum", "mv", "mw", "mx", "my", "mz", "na", "name", "nc", "ne", "net", "network", "news", "nf", "ng", "ni",
    "ninja", "nl", "no", "np", "nr", "nu", "nz", "om", "one", "online", "onion", "org", "pa", "page", "pe", "pf", "pg",
    "ph", "pk", "pl", "pm", "pn", "post", "pr", "pro", "ps", "pt", "pw", "py", "qa", "re", "rocks", "ro", "rs", "ru",
    "rw", "sa", "sb", "sc", "sd", "se", "sg", "sh", "shop", "si", "site", "sj", "sk", "sl", "sm", "sn", "so", "social",
    "solutions", "space", "sr", "ss", "st", "store", "studio", "su", "support", "sv", "sx", "sy", "systems", "sz", "tc",
    "td", "tech", "tel", "tf", "tg", "th", "tj", "tk", "tl", "tm", "tn", "to", "today", "ton", "tools", "top", "tr",
    "travel", "tt", "tv", "tw", "tz", "ua", "ug", "uk", "us", "uy", "uz", "va", "vc", "ve", "vg", "vi", "vip", "vn",
    "vu", "website", "wf", "wiki", "win", "work", "world", "ws", "xxx", "xyz", "ye", "yt", "za", "zm", "zone", "zw",
    "бг", "бел", "дети", "ею", "ком", "қаз", "мкд", "мон", "москва", "онлайн", "орг", "рус", "рф", "сайт", "срб", "укр",
    "中国", "中國", "公司", "台灣", "台湾", "在线", "网络", "香港", "한국", "みんな",
];

fn is_common_tld(tld: &str) -> bool {
    if tld.bytes().all(|c| c.is_ascii_lowercase()) {
        return COMMON_TLDS.contains(&tld);
    }
    let lower = tld.to_lowercase();
    // Telegram takes "COM" but not "Com": only the first letter capitalized looks like the start of a sentence.
    if lower != tld && lower.chars().skip(1).eq(tld.chars().skip(1)) {
        return false;
    }
    COMMON_TLDS.contains(&lower.as_str())
}

/// How much of a URL candidate is a link (TDLib's `fix_url`), or None when it is none: unbalanced brackets and
/// trailing punctuation are cut, and the domain must be an IPv4 address or end in a plausible top-level domain.
fn fix_url(url: &str) -> Option<usize> {
    let head = url.as_bytes().get(..8.min(url.len())).unwrap_or_default().to_ascii_lowercase();
    let mut rest = url;
    let mut has_protocol = false;
    if head.starts_with(b"http://") || head.starts_with(b"https://") || head.starts_with(b"ftp://") {
        let colon = url.find(':')?;
        rest = part(url, colon + 3, url.len());
        has_protocol = true;
    }
    let domain_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let mut domain = part(rest, 0, domain_end);
    let path = part(rest, domain_end, rest.len()).as_bytes();
    if let Some(at) = domain.find('@') {
        domain = part(domain, at + 1, domain.len());
    }
    if let Some(colon) = domain.rfind(':') {
        domain = part(domain, 0, colon);
    }
    // A known phishing look-alike.
    if domain.eq_ignore_ascii_case("teiegram.org") {
        return None;
    }

    let mut balance = [0i64; 3];
    let mut path_len = 0;
    while path_len < path.len() {
        match path[path_len] {
            b'(' => balance[0] += 1,
            b'[' => balance[1] += 1,
            b'{' => balance[2] += 1,
            b')' => balance[0] -= 1,
            b']' => balance[1] -= 1,
            b'}' => balance[2] -= 1,
            _ => {}
        }
        if balance.iter().any(|&b| b < 0) {
            break;
        }
        path_len += 1;
    }
    while path_len > 0 && BAD_PATH_END.contains(&path[path_len - 1]) {
        path_len -= 1;
    }
    let url_len = url.len() - (path.len() - path_len);

    let d = domain.as_bytes();
    let mut prev = 0;
    let mut labels = 0;
    let mut has_non_digit = false;
    let mut is_ipv4 = true;
    for i in 0..=d.len() {
        if i == d.len() || d[i] == b'.' {
            let label_len = i - prev;
            if label_len == 0 || label_len >= 64 || d[i - 1] == b'-' {
                return None;
            }
            if is_ipv4 {
                let (a, b, c) = (byte_at(d, prev), byte_at(d, prev + 1), byte_at(d, prev + 2));
                if label_len > 3
                    || (label_len == 3 && (a >= b'3' || (a == b'2' && (b >= b'6' || (b == b'5' && c >= b'6')))))
                    || (a == b'0' && label_len >= 2)
                {
                    is_ipv4 = false;
                }
            }
            labels += 1;
            if i != d.len() {
                prev = i + 1;
            }
        } else if !d[i].is_ascii_digit() {
            is_ipv4 = false;
            has_non_digit = true;
        }
    }
    if labels == 1 {
        return None;
    }
    if is_ipv4 && labels == 4 {
        return Some(url_len);
    }
    if !has_non_digit {
        return None;
    }
    let tld = part(domain, prev, domain.len());
    if tld.chars().count() <= 1 {
        return None;
    }
    if let Some(punycode) = tld.strip_prefix("xn--") {
        if tld.len() <= 5 || !punycode.bytes().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
    } else {
        if tld.contains(['_', '-']) {
            return None;
        }
        if !has_protocol && !is_common_tld(tld) {
            return None;
        }
    }
    // The label before the top-level domain may not contain '_'.
    let mut k = prev.saturating_sub(1);
    while k > 0 {
        k -= 1;
        match d[k] {
            b'_' => return None,
            b'.' => break,
            _ => {}
        }
    }
    Some(url_len)
}

/// URLs and email addresses, as (start, end, kind).
fn find_urls(s: &str) -> Vec<(usize, usize, EntityKind)> {
    let mut result = Vec::new();
    for (start, end) in match_urls(s) {
        let url = part(s, start, end);
        if is_email_address(url) {
            result.push((start, end, EntityKind::Email));
        } else if url.starts_with("mailto:") && is_email_address(&url[7..]) {
            result.push((start + 7, end, EntityKind::Email));
        } else if let Some(url_len) = fix_url(url).filter(|&n| n > 0) {
            result.push((start, start + url_len, EntityKind::Url));
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: EntityKind, offset: u32, length: u32) -> Entity {
        Entity { kind, offset, length }
    }

    fn ok(mode: ParseMode, input: &str) -> Formatted {
        match parse(mode, input) {
            Ok(f) => f,
            Err(err) => panic!("{input:?} failed: {err}"),
        }
    }

    fn html(input: &str) -> Formatted {
        ok(ParseMode::Html, input)
    }

    fn md2(input: &str) -> Formatted {
        ok(ParseMode::MarkdownV2, input)
    }

    fn md(input: &str) -> Formatted {
        ok(ParseMode::Markdown, input)
    }

    fn err(mode: ParseMode, input: &str) -> String {
        match parse(mode, input) {
            Ok(f) => panic!("{input:?} parsed as {f:?}"),
            Err(FormatError(message)) => message,
        }
    }

    fn formatted(text: &str, entities: Vec<Entity>) -> Formatted {
        Formatted { text: text.to_owned(), entities }
    }

    fn link(url: &str) -> EntityKind {
        EntityKind::TextLink { url: url.to_owned() }
    }

    fn pre(language: Option<&str>) -> EntityKind {
        EntityKind::Pre { language: language.map(str::to_owned) }
    }

    fn emoji(id: &str) -> EntityKind {
        EntityKind::CustomEmoji { custom_emoji_id: id.to_owned() }
    }

    /// The detected spans of `text` as (kind name, covered text), which reads better than offsets.
    fn detected(text: &str) -> Vec<(&'static str, String)> {
        let units: Vec<u16> = text.encode_utf16().collect();
        detect_entities(text)
            .iter()
            .map(|e| {
                let span = &units[e.offset as usize..(e.offset + e.length) as usize];
                (e.kind.name(), String::from_utf16_lossy(span))
            })
            .collect()
    }

    fn spans(list: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        list.iter().map(|(kind, text)| (*kind, text.to_string())).collect()
    }

    #[test]
    fn parse_mode_names_ignore_case() {
        assert_eq!(ParseMode::parse("HTML"), Some(ParseMode::Html));
        assert_eq!(ParseMode::parse("html"), Some(ParseMode::Html));
        assert_eq!(ParseMode::parse("MarkdownV2"), Some(ParseMode::MarkdownV2));
        assert_eq!(ParseMode::parse("markdownV2"), Some(ParseMode::MarkdownV2));
        assert_eq!(ParseMode::parse("Markdown"), Some(ParseMode::Markdown));
        assert_eq!(ParseMode::parse("MARKDOWN"), Some(ParseMode::Markdown));
        for bad in ["", "md", "markdown2", "none", "HTML ", "htm"] {
            assert_eq!(ParseMode::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn error_display_has_telegram_prefix() {
        assert_eq!(
            parse(ParseMode::Markdown, "a *b").unwrap_err().to_string(),
            "can't parse entities: Can't find end of the entity starting at byte offset 2"
        );
        assert_eq!(
            parse(ParseMode::MarkdownV2, "a.").unwrap_err().to_string(),
            "can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'"
        );
        assert_eq!(
            parse(ParseMode::Html, "<foo>").unwrap_err().to_string(),
            "can't parse entities: Unsupported start tag \"foo\" at byte offset 0"
        );
        assert_eq!(
            parse(ParseMode::Html, "<b>x").unwrap_err().to_string(),
            "can't parse entities: Can't find end tag corresponding to start tag \"b\""
        );
    }

    #[test]
    fn html_nested_tags() {
        assert_eq!(
            html("<b>bold <i>both</i></b> plain"),
            formatted("bold both plain", vec![e(EntityKind::Bold, 0, 9), e(EntityKind::Italic, 5, 4)])
        );
        assert_eq!(
            html("<i><b> </b> <code> </code></i>"),
            formatted("   ", vec![e(EntityKind::Italic, 0, 3), e(EntityKind::Bold, 0, 1), e(EntityKind::Code, 2, 1)])
        );
    }

    #[test]
    fn html_tag_aliases_and_case() {
        let f = html(
            "<strong>a</strong><em>b</em><ins>c</ins><strike>d</strike><del>e</del><s>f</s><u>g</u>\
             <tg-spoiler>h</tg-spoiler><span class=\"tg-spoiler\">i</span><B>j</b><I>k</I>",
        );
        assert_eq!(f.text, "abcdefghijk");
        assert_eq!(
            f.entities,
            vec![
                e(EntityKind::Bold, 0, 1),
                e(EntityKind::Italic, 1, 1),
                e(EntityKind::Underline, 2, 1),
                e(EntityKind::Strikethrough, 3, 1),
                e(EntityKind::Strikethrough, 4, 1),
                e(EntityKind::Strikethrough, 5, 1),
                e(EntityKind::Underline, 6, 1),
                e(EntityKind::Spoiler, 7, 1),
                e(EntityKind::Spoiler, 8, 1),
                e(EntityKind::Bold, 9, 1),
                e(EntityKind::Italic, 10, 1),
            ]
        );
    }

    #[test]
    fn html_offsets_count_utf16_after_emoji() {
        assert_eq!(html("👍 <b>hi</b>"), formatted("👍 hi", vec![e(EntityKind::Bold, 3, 2)]));
        assert_eq!(html("🏟 🏟<i>🏟 &lt;🏟</i>"), formatted("🏟 🏟🏟 <🏟", vec![e(EntityKind::Italic, 5, 6)]));
        assert_eq!(html("é<u>ü</u>"), formatted("éü", vec![e(EntityKind::Underline, 1, 1)]));
    }

    #[test]
    fn html_character_references() {
        assert_eq!(
            html("&lt;b&gt; &amp; &quot;x&quot; &#65;&#x42; &#x1F44D; &lt"),
            formatted("<b> & \"x\" AB 👍 <", vec![])
        );
        // Unknown names, capitalised names, zero, out-of-range and over-long references stay as written.
        assert_eq!(
            html("&ge; &nbsp; &LT; &#0; &#x110000; &#12345678; &#X41; &#; &"),
            formatted("&ge; &nbsp; &LT; &#0; &#x110000; &#12345678; &#X41; &#; &", vec![])
        );
        assert_eq!(html("<b>&#x1F44D;</b>x"), formatted("👍x", vec![e(EntityKind::Bold, 0, 2)]));
    }

    #[test]
    fn html_links_and_mentions() {
        assert_eq!(
            html("<a href=\"https://example.com/a?b=c\">x</a>"),
            formatted("x", vec![e(link("https://example.com/a?b=c"), 0, 1)])
        );
        assert_eq!(html("<a href='example.com'>x</a>"), formatted("x", vec![e(link("http://example.com/"), 0, 1)]));
        assert_eq!(
            html("<a href=\"tg://user?id=42\">Bob</a>"),
            formatted("Bob", vec![e(EntityKind::TextMention { user_id: UserId(42) }, 0, 3)])
        );
        assert_eq!(html("<a href=\"nodots\">x</a>"), formatted("x", vec![]));
        assert_eq!(
            html("<a>telegram.org</a>"),
            formatted("telegram.org", vec![e(link("http://telegram.org/"), 0, 12)])
        );
        assert_eq!(
            html("<a href=\"telegram.org?&lt;\">x</a>"),
            formatted("x", vec![e(link("http://telegram.org/?<"), 0, 1)])
        );
        // A tg:// link that names no valid user stays a link.
        assert_eq!(html("<a href=\"tg://user?id=abc\">x</a>"), formatted("x", vec![e(link("tg://user?id=abc"), 0, 1)]));
    }

    #[test]
    fn html_pre_with_language_is_one_entity() {
        assert_eq!(
            html("<pre><code class=\"language-rust\">fn main() {}</code></pre>"),
            formatted("fn main() {}", vec![e(pre(Some("rust")), 0, 12)])
        );
        assert_eq!(
            html("<code class=\"language-fift\"><pre>x</pre></code>"),
            formatted("x", vec![e(pre(Some("fift")), 0, 1)])
        );
        assert_eq!(html("<pre><code>x</code></pre>"), formatted("x", vec![e(pre(None), 0, 1)]));
        assert_eq!(html("<pre>x</pre>"), formatted("x", vec![e(pre(None), 0, 1)]));
        assert_eq!(html("<code class=\"language-c\">x</code>"), formatted("x", vec![e(EntityKind::Code, 0, 1)]));
        // Different spans stay two entities, as on Telegram.
        assert_eq!(
            html("<pre><code class=\"language-c\">x</code> </pre>"),
            formatted("x ", vec![e(pre(None), 0, 2), e(EntityKind::Code, 0, 1)])
        );
    }

    #[test]
    fn html_blockquotes_and_custom_emoji() {
        assert_eq!(html("<blockquote>quote</blockquote>"), formatted("quote", vec![e(EntityKind::Blockquote, 0, 5)]));
        assert_eq!(
            html("<blockquote expandable>quote</blockquote>"),
            formatted("quote", vec![e(EntityKind::ExpandableBlockquote, 0, 5)])
        );
        assert_eq!(
            html("<tg-emoji emoji-id=\"5368324170671202286\">👍</tg-emoji>!"),
            formatted("👍!", vec![e(emoji("5368324170671202286"), 0, 2)])
        );
        assert_eq!(
            err(ParseMode::Html, "<tg-emoji emoji-id=\"0\">👍</tg-emoji>"),
            "Invalid custom emoji identifier specified"
        );
        assert_eq!(err(ParseMode::Html, "<tg-emoji>👍</tg-emoji>"), "Invalid custom emoji identifier specified");
    }

    #[test]
    fn html_keeps_whitespace_and_drops_empty_entities() {
        assert_eq!(html("  <b> x </b>\n"), formatted("   x \n", vec![e(EntityKind::Bold, 2, 3)]));
        assert_eq!(html("a<b></b><i><u></u></i>b"), formatted("ab", vec![]));
        assert_eq!(html(""), formatted("", vec![]));
    }

    #[test]
    fn html_attribute_syntax() {
        assert_eq!(
            html("<b aba   =   caba>x</b><i    aba  =  '&lt;&gt;&quot;'>y</>"),
            formatted("xy", vec![e(EntityKind::Bold, 0, 1), e(EntityKind::Italic, 1, 1)])
        );
        // Telegram matches attribute names as written, so an upper-case HREF is ignored and the text is the URL.
        assert_eq!(
            html("<A HREF=\"https://a.com\">b.com</A>"),
            formatted("b.com", vec![e(link("http://b.com/"), 0, 5)])
        );
    }

    #[test]
    fn html_errors() {
        let cases = [
            ("<foo>x</foo>", "Unsupported start tag \"foo\" at byte offset 0"),
            ("a<br>b", "Unsupported start tag \"br\" at byte offset 1"),
            ("a<br/>b", "Unsupported start tag \"br/\" at byte offset 1"),
            ("a < b", "Unsupported start tag \"\" at byte offset 2"),
            ("<b>x", "Can't find end tag corresponding to start tag \"b\""),
            ("<b><i>x</i>", "Can't find end tag corresponding to start tag \"b\""),
            ("<b>x</i>", "Unmatched end tag at byte offset 4, expected \"</b>\", found \"</i>\""),
            ("x</b>", "Unexpected end tag at byte offset 1"),
            ("👍<b", "Unclosed start tag at byte offset 4"),
            ("<i>a</i   ", "Unclosed end tag at byte offset 4"),
            ("<span>x</span>", "Tag \"span\" must have class \"tg-spoiler\" at byte offset 0"),
            ("<i =a>x</i>", "Empty attribute name in the tag \"i\" at byte offset 0"),
            ("<i a = ", "Unclosed start tag \"i\" at byte offset 0"),
            ("<i a = 12,>", "Unexpected end of name token at byte offset 7"),
            ("<i a = \"x>", "Unclosed start tag at byte offset 0"),
            (
                "&#xD800;",
                "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched surrogate code units",
            ),
        ];
        for (input, message) in cases {
            assert_eq!(err(ParseMode::Html, input), message, "{input:?}");
        }
    }

    #[test]
    fn markdown_v2_basic_styles() {
        assert_eq!(
            md2("*bold* _italic_ __underline__ ~strike~ ||spoiler||"),
            formatted(
                "bold italic underline strike spoiler",
                vec![
                    e(EntityKind::Bold, 0, 4),
                    e(EntityKind::Italic, 5, 6),
                    e(EntityKind::Underline, 12, 9),
                    e(EntityKind::Strikethrough, 22, 6),
                    e(EntityKind::Spoiler, 29, 7),
                ]
            )
        );
    }

    #[test]
    fn markdown_v2_nesting_from_the_docs() {
        assert_eq!(
            md2(
                "*bold _italic bold ~italic bold strikethrough ||italic bold strikethrough spoiler||~ __underline italic bold___ bold*"
            ),
            formatted(
                "bold italic bold italic bold strikethrough italic bold strikethrough spoiler underline italic bold bold",
                vec![
                    e(EntityKind::Bold, 0, 103),
                    e(EntityKind::Italic, 5, 93),
                    e(EntityKind::Strikethrough, 17, 59),
                    e(EntityKind::Spoiler, 43, 33),
                    e(EntityKind::Underline, 77, 21),
                ]
            )
        );
    }

    #[test]
    fn markdown_v2_underline_takes_double_underscores_greedily() {
        // The documented way to write italic underline: an empty bold entity separates `_` from `__`.
        assert_eq!(
            md2("___italic underline_**__"),
            formatted("italic underline", vec![e(EntityKind::Italic, 0, 16), e(EntityKind::Underline, 0, 16)])
        );
        // Without it the closing `___` opens another underline and italic, which never close.
        assert_eq!(err(ParseMode::MarkdownV2, "___a___"), "Can't find end of Italic entity at byte offset 6");
        assert_eq!(
            md2("__a _b_ c__"),
            formatted("a b c", vec![e(EntityKind::Underline, 0, 5), e(EntityKind::Italic, 2, 1)])
        );
    }

    #[test]
    fn markdown_v2_escapes() {
        assert_eq!(md2("a\\.b\\!c \\\\ \\_ \\a"), formatted("a.b!c \\ _ a", vec![]));
        // A backslash before a non-ASCII character or at the end is itself.
        assert_eq!(md2("\\👍 \\"), formatted("\\👍 \\", vec![]));
        assert_eq!(md2("*a\\*b*"), formatted("a*b", vec![e(EntityKind::Bold, 0, 3)]));
        for c in "_*[]()~`>#+-=|{}.!".chars() {
            assert_eq!(md2(&format!("\\{c}")), formatted(&c.to_string(), vec![]), "{c}");
        }
    }

    #[test]
    fn markdown_v2_reserved_characters_are_errors() {
        for c in "]()#+-=|{}.!>".chars() {
            let input = format!("a{c}b");
            assert_eq!(
                err(ParseMode::MarkdownV2, &input),
                format!("Character '{c}' is reserved and must be escaped with the preceding '\\'"),
                "{input:?}"
            );
        }
        assert_eq!(
            err(ParseMode::MarkdownV2, "Hello, world!"),
            "Character '!' is reserved and must be escaped with the preceding '\\'"
        );
    }

    #[test]
    fn markdown_v2_unclosed_entities() {
        let cases = [
            ("*bold", "Can't find end of Bold entity at byte offset 0"),
            ("🏟 🏟_abacaba", "Can't find end of Italic entity at byte offset 9"),
            ("🏟 🏟__", "Can't find end of Underline entity at byte offset 9"),
            ("x ~y", "Can't find end of Strikethrough entity at byte offset 2"),
            ("||test\\|", "Can't find end of Spoiler entity at byte offset 0"),
            ("`code", "Can't find end of Code entity at byte offset 0"),
            ("```", "Can't find end of Pre entity at byte offset 0"),
            ("```rust\ncode", "Can't find end of PreCode entity at byte offset 0"),
            ("[link", "Can't find end of TextUrl entity at byte offset 0"),
            ("![👍", "Can't find end of CustomEmoji entity at byte offset 0"),
            ("[a](http://x.com", "Can't find end of a URL at byte offset 4"),
            ("*a\nb", "Can't find end of Bold entity at byte offset 0"),
        ];
        for (input, message) in cases {
            assert_eq!(err(ParseMode::MarkdownV2, input), message, "{input:?}");
        }
        // A bold line break is fine outside quotes; only a quote's end cuts entities off.
        assert_eq!(md2("*a\nb*"), formatted("a\nb", vec![e(EntityKind::Bold, 0, 3)]));
        assert_eq!(
            err(ParseMode::MarkdownV2, ">*b\n>ld \n>bo\nld*\nasd\ndef"),
            "Can't find end of Bold entity at byte offset 1"
        );
    }

    #[test]
    fn markdown_v2_links_and_mentions() {
        assert_eq!(
            md2("[text](https://example.com/a\\)b)"),
            formatted("text", vec![e(link("https://example.com/a)b"), 0, 4)])
        );
        assert_eq!(
            md2("hi [Bob](tg://user?id=123456789)"),
            formatted("hi Bob", vec![e(EntityKind::TextMention { user_id: UserId(123456789) }, 3, 3)])
        );
        assert_eq!(md2("[telegram\\.org]"), formatted("telegram.org", vec![e(link("http://telegram.org/"), 0, 12)]));
        assert_eq!(
            md2("[a](https://telegram.dog?\\\\\\()"),
            formatted("a", vec![e(link("https://telegram.dog/?\\("), 0, 1)])
        );
        // Links Telegram can't use are dropped, and so are links without text.
        assert_eq!(md2("[x](not a url)"), formatted("x", vec![]));
        assert_eq!(md2("[x](asdasd)"), formatted("x", vec![]));
        assert_eq!(md2("[](telegram.org)"), formatted("", vec![]));
        assert_eq!(md2("*[b](t.me)*"), formatted("b", vec![e(link("http://t.me/"), 0, 1), e(EntityKind::Bold, 0, 1)]));
    }

    #[test]
    fn markdown_v2_code_and_pre() {
        assert_eq!(md2("`a*b.\\`c\\\\`"), formatted("a*b.`c\\", vec![e(EntityKind::Code, 0, 7)]));
        assert_eq!(md2("```python\nprint(1)\n```"), formatted("print(1)\n", vec![e(pre(Some("python")), 0, 9)]));
        assert_eq!(md2("```\nplain\n```"), formatted("plain\n", vec![e(pre(None), 0, 6)]));
        assert_eq!(md2("a```b```"), formatted("ab", vec![e(pre(None), 1, 1)]));
        assert_eq!(md2("x```\r\n👍```"), formatted("x👍", vec![e(pre(None), 1, 2)]));
    }

    #[test]
    fn markdown_v2_custom_emoji() {
        assert_eq!(
            md2("![👍](tg://emoji?id=5368324170671202286) ok"),
            formatted("👍 ok", vec![e(emoji("5368324170671202286"), 0, 2)])
        );
        assert_eq!(md2("![👍](TG://EMoJI/?test=1&id=25#id=32)"), formatted("👍", vec![e(emoji("25"), 0, 2)]));
        let cases = [
            ("![👍]", "Custom emoji entity must contain a tg://emoji URL"),
            ("![👍](tg://emoji?id=1", "Can't find end of a custom emoji URL at byte offset 8"),
            ("![👍](t://emoji?id=1)", "Custom emoji URL must have scheme tg"),
            ("![👍](tg:emojis?id=1)", "Custom emoji URL must have host \"emoji\""),
            ("![👍](tg://emoji#id=1)", "Custom emoji URL must have an emoji identifier"),
            ("![👍](tg://emoji?x=1)", "Custom emoji URL must have an emoji identifier"),
            ("![👍](tg://emoji?id=025)", "Invalid custom emoji identifier specified"),
        ];
        for (input, message) in cases {
            assert_eq!(err(ParseMode::MarkdownV2, input), message, "{input:?}");
        }
    }

    #[test]
    fn markdown_v2_blockquotes() {
        assert_eq!(
            md2(">quote\n>more\nafter"),
            formatted("quote\nmore\nafter", vec![e(EntityKind::Blockquote, 0, 11)])
        );
        assert_eq!(md2("a\n>b"), formatted("a\nb", vec![e(EntityKind::Blockquote, 2, 1)]));
        assert_eq!(
            md2("**>hidden\n>more||"),
            formatted("hidden\nmore", vec![e(EntityKind::ExpandableBlockquote, 0, 11)])
        );
        assert_eq!(
            md2(">asd\n>q||e||w||\nasdad"),
            formatted("asd\nqew\nasdad", vec![e(EntityKind::ExpandableBlockquote, 0, 8), e(EntityKind::Spoiler, 5, 1)])
        );
        assert_eq!(
            md2(">asd\n>q||ew||\nasdad"),
            formatted("asd\nqew\nasdad", vec![e(EntityKind::Blockquote, 0, 8), e(EntityKind::Spoiler, 5, 2)])
        );
        assert_eq!(
            md2(">\n**>2"),
            formatted("\n2", vec![e(EntityKind::Blockquote, 0, 1), e(EntityKind::Blockquote, 1, 1)])
        );
        assert_eq!(md2(">||"), formatted("", vec![]));
        assert_eq!(
            err(ParseMode::MarkdownV2, ">\n*a*>2"),
            "Character '>' is reserved and must be escaped with the preceding '\\'"
        );
        assert_eq!(
            err(ParseMode::MarkdownV2, ">asd\n>q||ew\n||asdad"),
            "Can't find end of Spoiler entity at byte offset 7"
        );
    }

    #[test]
    fn markdown_v2_offsets_count_utf16() {
        assert_eq!(md2("👍👍 *x*"), formatted("👍👍 x", vec![e(EntityKind::Bold, 5, 1)]));
        assert_eq!(md2("🏟 \\.🏟_🏟\\. 🏟_"), formatted("🏟 .🏟🏟. 🏟", vec![e(EntityKind::Italic, 6, 6)]));
    }

    #[test]
    fn markdown_v2_drops_empty_entities() {
        assert_eq!(md2("a**b____c``d"), formatted("abcd", vec![]));
        assert_eq!(md2("||test||"), formatted("test", vec![e(EntityKind::Spoiler, 0, 4)]));
        assert_eq!(md2(""), formatted("", vec![]));
    }

    #[test]
    fn markdown_legacy() {
        assert_eq!(
            md("*bold* _italic_ `code` [link](http://example.com)"),
            formatted(
                "bold italic code link",
                vec![
                    e(EntityKind::Bold, 0, 4),
                    e(EntityKind::Italic, 5, 6),
                    e(EntityKind::Code, 12, 4),
                    e(link("http://example.com/"), 17, 4),
                ]
            )
        );
        assert_eq!(md("```js\nlet a;\n```"), formatted("let a;\n", vec![e(pre(Some("js")), 0, 7)]));
        assert_eq!(md("```plain```"), formatted("plain", vec![e(pre(None), 0, 5)]));
        // No nesting, and the characters MarkdownV2 reserves are plain text.
        assert_eq!(md("*a _b_ c*. 1+1=2!"), formatted("a _b_ c. 1+1=2!", vec![e(EntityKind::Bold, 0, 7)]));
        assert_eq!(md("snake\\_case a\\b \\*"), formatted("snake_case a\\b *", vec![]));
        assert_eq!(md("[example.com]"), formatted("example.com", vec![e(link("http://example.com/"), 0, 11)]));
        assert_eq!(
            md("👍 [Bob](tg://user?id=42)"),
            formatted("👍 Bob", vec![e(EntityKind::TextMention { user_id: UserId(42) }, 3, 3)])
        );
        assert_eq!(md("**"), formatted("", vec![]));
    }

    #[test]
    fn markdown_legacy_unclosed_entities() {
        let cases = [("hello *world", 6), ("2*3 = 6", 1), ("👍 _x", 5), ("`code", 0), ("```code``", 0), ("[text", 0)];
        for (input, offset) in cases {
            assert_eq!(
                err(ParseMode::Markdown, input),
                format!("Can't find end of the entity starting at byte offset {offset}"),
                "{input:?}"
            );
        }
    }

    #[test]
    fn detects_bot_commands() {
        assert_eq!(detected("/start@my_bot payload"), spans(&[("bot_command", "/start@my_bot")]));
        assert_eq!(detect_entities("/start@my_bot payload"), vec![e(EntityKind::BotCommand, 0, 13)]);
        assert_eq!(detected("/help me"), spans(&[("bot_command", "/help")]));
        // Not at a word start, a bot name too short, a path, or a command too long.
        for text in ["a/b", "/a@b", "/test/", "x</b>", format!("/{}", "a".repeat(33)).as_str()] {
            assert_eq!(detected(text), vec![], "{text:?}");
        }
    }

    #[test]
    fn detects_mentions() {
        assert_eq!(detect_entities("hi @alice!"), vec![e(EntityKind::Mention, 3, 6)]);
        assert_eq!(detect_entities("👍 @alice_x"), vec![e(EntityKind::Mention, 3, 8)]);
        assert_eq!(detected("@abcde @xxxxx@yyyyy @bob"), spans(&[("mention", "@abcde"), ("mention", "@xxxxx")]));
        for text in ["no@mention", "нет@mention", "@ab", format!("@{}", "a".repeat(33)).as_str()] {
            assert_eq!(detected(text), vec![], "{text:?}");
        }
    }

    #[test]
    fn detects_hashtags_and_cashtags() {
        assert_eq!(detected("#tag"), spans(&[("hashtag", "#tag")]));
        assert_eq!(
            detected("#a#b #c #42 #4a я#x #я"),
            spans(&[("hashtag", "#c"), ("hashtag", "#4a"), ("hashtag", "#я")])
        );
        assert_eq!(detected("$USD and $us and $AB and $TOOLONGXX"), spans(&[("cashtag", "$USD")]));
        assert_eq!(detected("$ABC$DEF $GHI"), spans(&[("cashtag", "$GHI")]));
    }

    #[test]
    fn detects_urls_and_emails() {
        assert_eq!(detect_entities("https://example.com/a?b=c"), vec![e(EntityKind::Url, 0, 25)]);
        assert_eq!(detect_entities("mail@example.com"), vec![e(EntityKind::Email, 0, 16)]);
        assert_eq!(detected("see example.com/path."), spans(&[("url", "example.com/path")]));
        assert_eq!(detected("(telegram.org)"), spans(&[("url", "telegram.org")]));
        assert_eq!(
            detected("http://telegram.org/?asd=123#123."),
            spans(&[("url", "http://telegram.org/?asd=123#123")])
        );
        assert_eq!(detected("hTtPs://telegram.org"), spans(&[("url", "hTtPs://telegram.org")]));
        assert_eq!(detected("127.0.0.1 and 127.0.0.256"), spans(&[("url", "127.0.0.1")]));
        assert_eq!(
            detected("google.com:65535 google.com:65536"),
            spans(&[("url", "google.com:65535"), ("url", "google.com")])
        );
        assert_eq!(
            detected("http://test.google.com/?q=abc()}[]def"),
            spans(&[("url", "http://test.google.com/?q=abc()")])
        );
        assert_eq!(detected("гришка.рф"), spans(&[("url", "гришка.рф")]));
        assert_eq!(detected("write to mailto:a.bc@c.com"), spans(&[("email", "a.bc@c.com")]));
        assert_eq!(detected("tg://resolve?domain=x."), spans(&[("url", "tg://resolve?domain=x")]));
        // Unknown or capitalised top-level domains, look-alikes and bad protocols are no links.
        for text in ["file.txt", "a.ab", "Test.Com", "teiegram.org/test", "sftp://telegram.org", "http://a.0", "1.0"] {
            assert_eq!(detected(text), vec![], "{text:?}");
        }
    }

    #[test]
    fn detection_keeps_the_first_of_overlapping_finds() {
        assert_eq!(
            detected("/cmd@mybot #tag $USD @someone https://t.me/x"),
            spans(&[
                ("bot_command", "/cmd@mybot"),
                ("hashtag", "#tag"),
                ("cashtag", "$USD"),
                ("mention", "@someone"),
                ("url", "https://t.me/x"),
            ])
        );
        // The path holds an '@name', which is part of the link rather than a mention.
        assert_eq!(detected("https://a.de/@alice_x"), spans(&[("url", "https://a.de/@alice_x")]));
    }

    #[test]
    fn merge_skips_detections_inside_code_and_links() {
        let text = "run https://example.com or see example.org";
        let code = e(EntityKind::Code, 4, 19);
        assert_eq!(merge_detected(text, vec![code.clone()]), vec![code.clone(), e(EntityKind::Url, 31, 11)]);
        let text_link = e(link("https://other.org/"), 31, 11);
        assert_eq!(merge_detected(text, vec![text_link.clone()]), vec![e(EntityKind::Url, 4, 19), text_link]);
    }

    #[test]
    fn merge_lets_formatting_overlap_detections() {
        let text = "hey @alice_x";
        let bold = e(EntityKind::Bold, 0, 12);
        assert_eq!(merge_detected(text, vec![bold.clone()]), vec![bold, e(EntityKind::Mention, 4, 8)]);
        let italic = e(EntityKind::Italic, 4, 8);
        assert_eq!(merge_detected(text, vec![italic.clone()]), vec![e(EntityKind::Mention, 4, 8), italic]);
        assert_eq!(merge_detected("plain", vec![]), vec![]);
    }

    #[test]
    fn links_are_normalized_like_telegram() {
        assert_eq!(checked_link("example.com").as_deref(), Some("http://example.com/"));
        assert_eq!(checked_link("HTTPS://Example.COM:443/a b").as_deref(), Some("https://example.com:443/a%20b"));
        assert_eq!(checked_link("tg://resolve?domain=x").as_deref(), Some("tg://resolve?domain=x"));
        assert_eq!(checked_link("TG:Resolve?domain=x").as_deref(), Some("tg://resolve?domain=x"));
        for bad in
            ["", "nodots", "ftp://a.com", "http://a.com:0", "http://a.com:65536", "tg://a.b", "tg://x:1", "a b.com"]
        {
            assert_eq!(checked_link(bad), None, "{bad:?}");
        }
        assert_eq!(link_user_id("tg://user?id=7"), Some(UserId(7)));
        assert_eq!(link_user_id("TG:USER/?x=1&id=7#f"), Some(UserId(7)));
        for bad in
            ["tg://user?id=0", "tg://user?id=-7", "tg://user?id=07", "tg://users?id=7", "tg://user", "http://user?id=7"]
        {
            assert_eq!(link_user_id(bad), None, "{bad:?}");
        }
    }

    /// A small deterministic generator, so the arbitrary-input test needs no extra crate and fails reproducibly.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn check_invariants(input: &str, formatted: &Formatted) {
        let len = formatted.text.encode_utf16().count() as u64;
        for entity in &formatted.entities {
            assert!(entity.length > 0, "{input:?}: empty entity {entity:?}");
            assert!(u64::from(entity.offset) + u64::from(entity.length) <= len, "{input:?}: {entity:?} beyond {len}");
        }
        let keys: Vec<_> = formatted.entities.iter().map(|e| (e.offset, Reverse(e.length))).collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{input:?}: unsorted {:?}", formatted.entities);
    }

    #[test]
    fn arbitrary_input_never_panics() {
        #[rustfmt::skip]
        const PIECES: &[&str] = &[
            "\\", "[", "]", "(", ")", "<", ">", "&", "*", "_", "__", "`", "```", "|", "||", "~", "!", "#", "$", "@",
            "/", ".", "\n", "\r", " ", "\t", "\0", "a", "Z", "9", "é", "👍", "🏟", "я", "<b>", "</b>", "</>", "<a href=",
            "\"", "'", "=", "&#", "&#x", "&lt", ";", "tg://user?id=", "tg://emoji?id=", "http://", "example.com",
            "mail@x.org", "<pre>", "<code class=\"language-", "<blockquote expandable>", "<tg-emoji emoji-id=\"1\">",
            "<span class=\"tg-spoiler\">", "**>", ">", "![", "-", "+", ":", "?", "%", "D800", "com", "xn--p1ai",
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut inputs: Vec<String> = vec![
            "\\".into(),
            "[".into(),
            "<".into(),
            "&".into(),
            "&#".into(),
            "&#x".into(),
            "![".into(),
            "```".into(),
            "<a".into(),
            "<a href=\"".into(),
            "é\\".into(),
            "[a](".into(),
            "[a](\\".into(),
            "![a](tg://emoji?id=1\\".into(),
            ">".into(),
            "**>||".into(),
            "@".into(),
            "#".into(),
            "$".into(),
            "/".into(),
            ".".into(),
            "a.".into(),
            "a.b.".into(),
            "http://".into(),
            "tg://".into(),
            "x@y.".into(),
        ];
        for _ in 0..600 {
            let count = 1 + rng.below(12);
            inputs.push((0..count).map(|_| PIECES[rng.below(PIECES.len())]).collect());
        }
        for input in &inputs {
            for mode in [ParseMode::Html, ParseMode::MarkdownV2, ParseMode::Markdown] {
                if let Ok(formatted) = parse(mode, input) {
                    check_invariants(input, &formatted);
                    let merged = merge_detected(&formatted.text, formatted.entities.clone());
                    check_invariants(input, &Formatted { text: formatted.text.clone(), entities: merged });
                }
            }
            let found = Formatted { text: input.clone(), entities: detect_entities(input) };
            check_invariants(input, &found);
            let keys: Vec<_> = found.entities.iter().map(|e| (e.offset, e.offset + e.length)).collect();
            assert!(keys.windows(2).all(|w| w[0].1 <= w[1].0), "{input:?}: overlapping detections");
        }
    }
}
