//! Entities are stored as a compact JSON array in one column on every backend.

use plaza_core::{Entity, EntityKind};
use serde::{Deserialize, Serialize};

use crate::StoreError;

#[derive(Serialize, Deserialize)]
struct Stored {
    t: String,
    o: u32,
    l: u32,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    user: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    emoji: Option<String>,
}

/// `None` for no entities, so the common case stores nothing.
pub fn encode(entities: &[Entity]) -> Option<String> {
    if entities.is_empty() {
        return None;
    }
    let stored: Vec<Stored> = entities
        .iter()
        .map(|e| {
            let x = e.kind.extras();
            Stored {
                t: e.kind.name().to_string(),
                o: e.offset,
                l: e.length,
                url: x.url.map(str::to_string),
                lang: x.language.map(str::to_string),
                user: x.user_id,
                emoji: x.custom_emoji_id.map(str::to_string),
            }
        })
        .collect();
    Some(serde_json::to_string(&stored).expect("entities serialize"))
}

pub fn decode(column: Option<&str>) -> Result<Vec<Entity>, StoreError> {
    let Some(text) = column else { return Ok(Vec::new()) };
    let stored: Vec<Stored> = serde_json::from_str(text).map_err(StoreError::backend)?;
    stored
        .into_iter()
        .map(|s| {
            let kind = EntityKind::from_parts(&s.t, s.url, s.lang, s.user, s.emoji).map_err(StoreError::backend)?;
            Ok(Entity { kind, offset: s.o, length: s.l })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use plaza_core::UserId;

    #[test]
    fn round_trip() {
        let e = vec![
            Entity { kind: EntityKind::Bold, offset: 0, length: 2 },
            Entity { kind: EntityKind::TextLink { url: "https://x.y".into() }, offset: 2, length: 1 },
            Entity { kind: EntityKind::TextMention { user_id: UserId(5) }, offset: 3, length: 1 },
            Entity { kind: EntityKind::Pre { language: Some("rust".into()) }, offset: 4, length: 1 },
        ];
        assert_eq!(decode(encode(&e).as_deref()).unwrap(), e);
        assert_eq!(encode(&[]), None);
        assert!(decode(None).unwrap().is_empty());
    }
}
