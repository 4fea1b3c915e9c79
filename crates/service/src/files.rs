//! Uploaded files: limits, photo checks and ids. The bytes go to the store, kept once per content.

use plaza_core::Invalid;
use plaza_core::file::{FileInfo, FileKind, clean_file_name};
use plaza_core::{User, UserId};

use crate::{Service, ServiceError, ServiceResult, secrets, sha256};

/// An upload as it arrived.
#[derive(Debug, Clone)]
pub struct Upload {
    pub bytes: Vec<u8>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
}

/// Why a file could not be used, in the words Telegram uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileProblem {
    TooBig,
    NotAnImage,
    Empty,
}

impl FileProblem {
    pub fn describe(self) -> &'static str {
        match self {
            FileProblem::TooBig => "file is too big",
            FileProblem::NotAnImage => "IMAGE_PROCESS_FAILED",
            FileProblem::Empty => "file must be non-empty",
        }
    }
}

impl Service {
    /// Stores an upload as a photo or document. A photo must be an image Plaza can measure.
    pub async fn upload_file(&self, owner: UserId, kind: FileKind, upload: Upload) -> ServiceResult<FileInfo> {
        let problem = |p: FileProblem| ServiceError::Invalid(Invalid::new("file", p.describe()));
        if upload.bytes.is_empty() {
            return Err(problem(FileProblem::Empty));
        }
        if upload.bytes.len() > kind.max_bytes() {
            return Err(problem(FileProblem::TooBig));
        }
        let (mime_type, width, height) = match kind {
            FileKind::Photo => {
                let size = imagesize::blob_size(&upload.bytes).map_err(|_| problem(FileProblem::NotAnImage))?;
                let mime = match imagesize::image_type(&upload.bytes) {
                    Ok(imagesize::ImageType::Png) => "image/png",
                    Ok(imagesize::ImageType::Gif) => "image/gif",
                    Ok(imagesize::ImageType::Webp) => "image/webp",
                    Ok(imagesize::ImageType::Jpeg) => "image/jpeg",
                    _ => return Err(problem(FileProblem::NotAnImage)),
                };
                (Some(mime.to_string()), Some(size.width as u32), Some(size.height as u32))
            }
            FileKind::Document => {
                let mime = upload
                    .content_type
                    .filter(|m| m.contains('/') && m.len() <= 255 && m.is_ascii())
                    .unwrap_or_else(|| "application/octet-stream".to_string());
                (Some(mime), None, None)
            }
        };
        let digest = sha256(&upload.bytes);
        let info = FileInfo {
            file_id: secrets::opaque_id(),
            unique_id: secrets::unique_id(&digest),
            kind,
            size: upload.bytes.len() as u64,
            mime_type,
            file_name: match kind {
                FileKind::Document => upload.file_name.as_deref().and_then(clean_file_name),
                FileKind::Photo => None,
            },
            width,
            height,
        };
        Ok(self.store.put_file(owner, info, digest, upload.bytes, self.now()).await?)
    }

    /// A stored file by its id, if it exists.
    pub async fn file(&self, file_id: &str) -> ServiceResult<Option<FileInfo>> {
        if file_id.is_empty() || file_id.len() > 128 {
            return Ok(None);
        }
        Ok(self.store.file(file_id).await?)
    }

    /// A file's bytes, for its holder to download.
    pub async fn file_bytes(&self, _reader: &User, file_id: &str) -> ServiceResult<Option<(FileInfo, Vec<u8>)>> {
        let Some(info) = self.file(file_id).await? else { return Ok(None) };
        Ok(self.store.file_bytes(file_id).await?.map(|b| (info, b)))
    }
}
