//! Files: photos and documents attached to messages, with Telegram's size limits. A file is named
//! by an opaque, unguessable `file_id` (whoever holds it may send or download the file, as with
//! Telegram's file ids) and by a `file_unique_id` that is the same for the same content.

use crate::Invalid;

/// Largest photo upload, as on Telegram.
pub const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;
/// Largest document upload (Telegram's limit for bots' multipart uploads).
pub const MAX_DOCUMENT_BYTES: usize = 50 * 1024 * 1024;
/// Longest caption, in UTF-16 code units.
pub const MAX_CAPTION_LEN: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Photo,
    Document,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Photo => "photo",
            FileKind::Document => "document",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "photo" => Ok(FileKind::Photo),
            "document" => Ok(FileKind::Document),
            other => Err(Invalid::new("file", format!("unknown file kind {other:?}"))),
        }
    }

    pub fn max_bytes(self) -> usize {
        match self {
            FileKind::Photo => MAX_PHOTO_BYTES,
            FileKind::Document => MAX_DOCUMENT_BYTES,
        }
    }
}

/// A stored file's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub file_id: String,
    /// The same for every upload of the same bytes.
    pub unique_id: String,
    pub kind: FileKind,
    pub size: u64,
    pub mime_type: Option<String>,
    pub file_name: Option<String>,
    /// Pixel size, for photos.
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl FileInfo {
    /// The path a bot downloads it under, `/file/bot<token>/<path>`; the extension is cosmetic.
    pub fn file_path(&self) -> String {
        let ext = match (self.kind, self.mime_type.as_deref()) {
            (FileKind::Photo, Some("image/png")) => ".png",
            (FileKind::Photo, Some("image/gif")) => ".gif",
            (FileKind::Photo, Some("image/webp")) => ".webp",
            (FileKind::Photo, _) => ".jpg",
            (FileKind::Document, _) => self
                .file_name
                .as_deref()
                .and_then(|n| n.rfind('.').map(|i| &n[i..]))
                .filter(|e| e.len() <= 10 && e[1..].bytes().all(|b| b.is_ascii_alphanumeric()))
                .unwrap_or(""),
        };
        format!("{}s/{}{ext}", self.kind.as_str(), self.file_id)
    }

    /// The `file_id` inside a download path made by [`FileInfo::file_path`].
    pub fn id_from_path(path: &str) -> Option<&str> {
        let name = path.rsplit('/').next()?;
        let id = name.split('.').next()?;
        (!id.is_empty()).then_some(id)
    }
}

/// What a message carries besides text: a photo or a document (the text is then its caption).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    Photo(FileInfo),
    Document(FileInfo),
}

impl Media {
    pub fn file(&self) -> &FileInfo {
        match self {
            Media::Photo(f) | Media::Document(f) => f,
        }
    }
}

/// A document's file name as given by the uploader: 1–255 characters, no path separators.
pub fn clean_file_name(name: &str) -> Option<String> {
    let name = name.rsplit(['/', '\\']).next()?.trim();
    if name.is_empty() || name.chars().any(char::is_control) {
        return None;
    }
    Some(name.chars().take(255).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(kind: FileKind, mime: Option<&str>, name: Option<&str>) -> FileInfo {
        FileInfo {
            file_id: "abc".into(),
            unique_id: "u".into(),
            kind,
            size: 1,
            mime_type: mime.map(str::to_string),
            file_name: name.map(str::to_string),
            width: None,
            height: None,
        }
    }

    #[test]
    fn paths_round_trip_to_ids() {
        let p = info(FileKind::Photo, Some("image/png"), None).file_path();
        assert_eq!(p, "photos/abc.png");
        assert_eq!(FileInfo::id_from_path(&p), Some("abc"));
        assert_eq!(info(FileKind::Document, None, Some("report.pdf")).file_path(), "documents/abc.pdf");
        assert_eq!(info(FileKind::Document, None, Some("weird.p/df")).file_path(), "documents/abc");
        assert_eq!(FileInfo::id_from_path("documents/"), None);
    }

    #[test]
    fn file_names_lose_their_directories() {
        assert_eq!(clean_file_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(clean_file_name("C:\\x\\a.txt").as_deref(), Some("a.txt"));
        assert_eq!(clean_file_name("  "), None);
        assert_eq!(clean_file_name("a\nb"), None);
    }
}
