//! The web client's assets, compiled from `web/` by `build.rs` and embedded in the binary, so
//! `plaza serve` serves the client with nothing else installed.

/// One compiled asset, with its gzip made at build time.
#[derive(Debug)]
pub struct Asset {
    /// Path under `/assets/<BUILD_ID>/`.
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    pub gzip: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The asset at `path` under `/assets/<BUILD_ID>/`.
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.binary_search_by(|a| a.path.cmp(path)).ok().map(|i| &ASSETS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_index_loads_is_embedded() {
        let index = std::str::from_utf8(INDEX.body).unwrap();
        let prefix = format!("/assets/{BUILD_ID}/");
        let mut seen = 0;
        for part in index.split(&prefix).skip(1) {
            let path: String = part.chars().take_while(|c| !matches!(c, '"' | '>' | ' ' | '\'')).collect();
            assert!(asset(&path).is_some(), "index.html refers to {path}, which is not built");
            seen += 1;
        }
        assert!(seen >= 3, "index.html loads the script, the style sheet and the icon");
    }

    #[test]
    fn gzip_is_smaller_for_every_text_asset() {
        for a in ASSETS.iter().filter(|a| a.body.len() > 1024) {
            assert!(a.gzip.len() < a.body.len(), "{} does not shrink", a.path);
        }
    }
}
