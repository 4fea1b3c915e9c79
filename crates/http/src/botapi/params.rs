//! A Bot API call's parameters, from wherever the client put them: the query string, an urlencoded,
//! JSON or multipart body. Nested objects arrive as raw JSON (JSON bodies) or as JSON text (every
//! other encoding); both read the same here, as on Telegram's server.

use foldhash::HashMap;

use axum::body::Bytes;
use std::io::Read;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request};
use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use serde::de::{DeserializeOwned, MapAccess, Visitor};

use super::error::BotError;

/// One uploaded file of a multipart body.
#[derive(Debug, Clone)]
pub struct Upload {
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Bytes,
}

#[derive(Debug, Clone)]
pub enum Value {
    Text(String),
    /// A non-string value of a JSON body, kept as JSON.
    Json(serde_json::Value),
    File(Upload),
}

#[derive(Debug, Default)]
pub struct Params(HashMap<String, Value>);

impl Params {
    /// The fields of a JSON object given as a parameter (an inline query result …), read like
    /// the parameters of a call.
    pub fn from_object(object: &serde_json::Map<String, serde_json::Value>) -> Params {
        Params(
            object
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => Value::Text(s.clone()),
                        other => Value::Json(other.clone()),
                    };
                    (k.clone(), v)
                })
                .collect(),
        )
    }

    /// Reads the query string and the body, whatever its encoding. Body values win over query
    /// values of the same name.
    pub async fn from_request(mut req: Request, max_body: usize) -> Result<Params, BotError> {
        if req.headers().contains_key(CONTENT_ENCODING) {
            req = decompressed(req, max_body).await?;
        }
        let mut params = Params::default();
        if let Some(q) = req.uri().query() {
            for (k, v) in form_urlencoded_pairs(q.as_bytes()) {
                params.0.insert(k, Value::Text(v));
            }
        }
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.to_ascii_lowercase())
            .unwrap_or_default();
        if content_type.starts_with("multipart/form-data") {
            DefaultBodyLimit::max(max_body).apply(&mut req);
            let mut multipart = Multipart::from_request(req, &())
                .await
                .map_err(|e| BotError::bad(format!("can't parse multipart: {e}")))?;
            while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
                let Some(name) = field.name().map(str::to_string) else { continue };
                let file_name = field.file_name().map(str::to_string);
                let field_type = field.content_type().map(str::to_string);
                let bytes = field.bytes().await.map_err(multipart_error)?;
                let value = match file_name {
                    Some(file_name) => {
                        Value::File(Upload { file_name: Some(file_name), content_type: field_type, bytes })
                    }
                    None => match String::from_utf8(bytes.to_vec()) {
                        Ok(text) => Value::Text(text),
                        Err(_) => Value::File(Upload { file_name: None, content_type: field_type, bytes }),
                    },
                };
                params.0.insert(name, value);
            }
            return params.refusing_nul();
        }
        let body = axum::body::to_bytes(req.into_body(), max_body).await.map_err(|_| too_large())?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return params.refusing_nul();
        }
        if content_type.starts_with("application/json") {
            let JsonBody(fields) = serde_json::from_slice(&body).map_err(|_| {
                match serde_json::from_slice::<serde_json::Value>(&body) {
                    Ok(_) => BotError::bad("JSON request body must be an object"),
                    Err(_) => BotError::bad("can't parse JSON request body"),
                }
            })?;
            if params.0.is_empty() {
                params.0 = fields;
            } else {
                params.0.extend(fields);
            }
        } else {
            // urlencoded, or a body without a content type (some clients omit it).
            for (k, v) in form_urlencoded_pairs(&body) {
                params.0.insert(k, Value::Text(v));
            }
        }
        params.refusing_nul()
    }

    /// Refuses a NUL character anywhere in the parameters' text (nested JSON and file names
    /// included): PostgreSQL's text cannot hold one, and one store must not keep what the other
    /// refuses. Telegram drops such characters; a client that sends one has a bug to hear about.
    pub fn refusing_nul(self) -> Result<Params, BotError> {
        fn json_has_nul(v: &serde_json::Value) -> bool {
            match v {
                serde_json::Value::String(s) => s.contains('\0'),
                serde_json::Value::Array(a) => a.iter().any(json_has_nul),
                serde_json::Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v)),
                _ => false,
            }
        }
        let bad = self.0.iter().find(|(_, v)| match v {
            Value::Text(s) => s.contains('\0'),
            Value::Json(v) => json_has_nul(v),
            Value::File(f) => [&f.file_name, &f.content_type].into_iter().flatten().any(|s| s.contains('\0')),
        });
        match bad {
            Some((name, _)) => Err(BotError::bad(format!("parameter \"{name}\" must not contain a NUL character"))),
            None => Ok(self),
        }
    }

    /// Parameters of a JSON object: strings are taken as they are, other values kept as JSON.
    /// (A JSON body is read the same way, straight into the parameters: [`JsonBody`].)
    pub fn from_json_object(map: serde_json::Map<String, serde_json::Value>) -> Params {
        Params(map.into_iter().filter_map(|(k, v)| Some((k, json_value(v)?))).collect())
    }

    pub fn insert_text(&mut self, name: &str, value: String) {
        self.0.insert(name.to_string(), Value::Text(value));
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// A file uploaded under `name`, or under the name an `attach://<name>` value points at.
    pub fn file(&self, name: &str) -> Option<&Upload> {
        match self.0.get(name)? {
            Value::File(f) => Some(f),
            Value::Text(t) => match self.0.get(t.strip_prefix("attach://")?)? {
                Value::File(f) => Some(f),
                _ => None,
            },
            Value::Json(_) => None,
        }
    }

    /// The parameter as text; numbers and booleans of a JSON body read as their JSON text.
    pub fn str(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::Text(s) => Some(s.clone()),
            Value::Json(v) => Some(v.to_string()),
            Value::File(f) => String::from_utf8(f.bytes.to_vec()).ok(),
        }
    }

    pub fn required_str(&self, name: &str) -> Result<String, BotError> {
        self.str(name).ok_or_else(|| BotError::missing(name))
    }

    /// The parameter when it is a JSON integer, read as it is (most libraries send ids so).
    pub fn json_int(&self, name: &str) -> Option<i64> {
        match self.0.get(name)? {
            Value::Json(serde_json::Value::Number(n)) => n.as_i64(),
            _ => None,
        }
    }

    /// An integer parameter; text is trimmed, and `true`/`false` are not integers.
    pub fn int(&self, name: &str) -> Result<Option<i64>, BotError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Json(serde_json::Value::Number(n))) => {
                n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).map(Some).ok_or_else(|| BotError::not_number(name))
            }
            Some(Value::Text(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::Text(s)) => s.trim().parse().map(Some).map_err(|_| BotError::not_number(name)),
            Some(_) => Err(BotError::not_number(name)),
        }
    }

    pub fn required_int(&self, name: &str) -> Result<i64, BotError> {
        self.int(name)?.ok_or_else(|| BotError::missing(name))
    }

    /// A boolean as Telegram reads one: `true`, `yes` and `1` (any case) are true, anything else false.
    pub fn bool(&self, name: &str) -> bool {
        match self.0.get(name) {
            Some(Value::Json(serde_json::Value::Bool(b))) => *b,
            Some(Value::Json(serde_json::Value::Number(n))) => n.as_i64() == Some(1),
            Some(Value::Text(s)) => matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "yes" | "1"),
            _ => false,
        }
    }

    /// A structured parameter, given as JSON or as JSON text. `what` names it in the error the way
    /// Telegram does, e.g. "reply keyboard markup".
    pub fn json<T: DeserializeOwned>(&self, name: &str, what: &str) -> Result<Option<T>, BotError> {
        let parse_error = || BotError::bad(format!("can't parse {what} JSON object"));
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Json(v)) => serde_json::from_value(v.clone()).map(Some).map_err(|_| parse_error()),
            Some(Value::Text(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::Text(s)) => serde_json::from_str(s).map(Some).map_err(|_| parse_error()),
            Some(Value::File(_)) => Err(parse_error()),
        }
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> BotError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        BotError::new(413, "Request Entity Too Large")
    } else {
        BotError::bad(format!("can't parse multipart: {}", e.body_text()))
    }
}

/// A JSON parameter's value: a string as text, anything else kept as JSON, and `null` as no value
/// (Telegram's server treats a JSON null as an absent parameter).
fn json_value(v: serde_json::Value) -> Option<Value> {
    match v {
        serde_json::Value::String(s) => Some(Value::Text(s)),
        serde_json::Value::Null => None,
        other => Some(Value::Json(other)),
    }
}

fn too_large() -> BotError {
    BotError::new(413, "Request Entity Too Large")
}

/// A JSON body's object, read straight into parameters as [`Params::from_json_object`] reads one:
/// strings as text, other values as JSON, `null` as absent (a later `null` removes an earlier
/// value of the same name, as the last of duplicate names wins). Read through `serde_json::Value`
/// first, a body was built as a `BTreeMap` and then moved over.
struct JsonBody(HashMap<String, Value>);

impl<'de> serde::Deserialize<'de> for JsonBody {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = JsonBody;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonBody, A::Error> {
                let mut fields = HashMap::with_capacity_and_hasher(map.size_hint().unwrap_or(8), Default::default());
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    match json_value(v) {
                        Some(v) => fields.insert(k, v),
                        None => fields.remove(&k),
                    };
                }
                Ok(JsonBody(fields))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// A request whose body said `Content-Encoding: gzip` (or `deflate`, or `identity`), with the body
/// decompressed, as Telegram's server accepts compressed bodies. Neither the compressed nor the
/// decompressed body may pass `max_body`.
async fn decompressed(req: Request, max_body: usize) -> Result<Request, BotError> {
    let (mut parts, body) = req.into_parts();
    let encoding = parts
        .headers
        .remove(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok().map(|v| v.trim().to_ascii_lowercase()))
        .unwrap_or_default();
    parts.headers.remove(CONTENT_LENGTH);
    let raw = axum::body::to_bytes(body, max_body).await.map_err(|_| too_large())?;
    let gzip = match encoding.as_str() {
        "" | "identity" => return Ok(Request::from_parts(parts, Body::from(raw))),
        "gzip" | "x-gzip" => true,
        "deflate" => false,
        other => return Err(BotError::bad(format!("unsupported Content-Encoding \"{other}\""))),
    };
    let inflate = move || -> std::io::Result<Vec<u8>> {
        let decoder: Box<dyn Read> = match gzip {
            true => Box::new(flate2::read::MultiGzDecoder::new(&raw[..])),
            false => Box::new(flate2::read::ZlibDecoder::new(&raw[..])),
        };
        let mut out = Vec::new();
        decoder.take(max_body as u64 + 1).read_to_end(&mut out)?;
        Ok(out)
    };
    // Inflating up to 50 MB would hold up every other request on this worker thread.
    let out = tokio::task::spawn_blocking(inflate)
        .await
        .map_err(|_| BotError::new(500, "Internal Server Error"))?
        .map_err(|_| BotError::bad(format!("can't decompress the {encoding} request body")))?;
    if out.len() > max_body {
        return Err(too_large());
    }
    Ok(Request::from_parts(parts, Body::from(out)))
}

/// `application/x-www-form-urlencoded` pairs; `+` is a space, bad escapes are kept as they are.
fn form_urlencoded_pairs(input: &[u8]) -> Vec<(String, String)> {
    input
        .split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut it = pair.splitn(2, |b| *b == b'=');
            let k = it.next().unwrap_or_default();
            let v = it.next().unwrap_or_default();
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < input.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(input[i + 1]), hex(input[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_form_encoding() {
        let pairs = form_urlencoded_pairs(b"chat_id=42&text=hello+w%C3%B6rld%21&empty=&bad=%zz%4");
        assert_eq!(pairs[0], ("chat_id".into(), "42".into()));
        assert_eq!(pairs[1], ("text".into(), "hello wörld!".into()));
        assert_eq!(pairs[2], ("empty".into(), "".into()));
        assert_eq!(pairs[3], ("bad".into(), "%zz%4".into()));
    }

    #[test]
    fn reads_values_as_telegram_does() {
        let mut p = Params::default();
        p.insert_text("a", " 12 ".into());
        p.insert_text("yes", "YES".into());
        p.insert_text("markup", r#"{"x":1}"#.into());
        p.0.insert("n".into(), Value::Json(serde_json::json!(7)));
        p.0.insert("obj".into(), Value::Json(serde_json::json!({"x": 2})));
        assert_eq!(p.int("a").unwrap(), Some(12));
        assert_eq!(p.int("n").unwrap(), Some(7));
        assert!(p.int("yes").is_err());
        assert!(p.bool("yes") && !p.bool("a") && !p.bool("missing"));
        #[derive(serde::Deserialize)]
        struct X {
            x: i32,
        }
        assert_eq!(p.json::<X>("markup", "x").unwrap().unwrap().x, 1);
        assert_eq!(p.json::<X>("obj", "x").unwrap().unwrap().x, 2);
        assert!(p.json::<X>("a", "x").is_err());
        assert_eq!(p.str("obj").unwrap(), r#"{"x":2}"#);
    }
}
