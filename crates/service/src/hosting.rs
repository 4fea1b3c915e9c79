//! Hosted mini apps: a bot's owner deploys a static bundle, each deploy a new numbered version
//! that goes live at once, and can roll back to any earlier one. Plaza serves the live version on
//! the app's own origin (see [`AppsUrl`]), never on the client's.

use std::io::Read;

use plaza_core::webapp::{AppsUrl, MAX_BUNDLE_BYTES, MAX_BUNDLE_FILES, ShortName, WebApp, parse_bundle_path};
use plaza_core::{Denied, Invalid, User, UserId, Username};
use plaza_store::{AppVersion, BundleFile, HostedFile};

use crate::{Service, ServiceResult, sha256};

/// A bundle's files as they arrived: path and bytes.
pub type RawBundle = Vec<(String, Vec<u8>)>;

/// What a request to an app's origin gets.
#[derive(Debug, Clone)]
pub enum Hosted {
    File(HostedFile),
    /// The host names no app, or the app has nothing deployed.
    NoApp,
    /// The app exists but has no such file.
    NotFound,
}

/// Reads a `.tar.gz` (or plain `.tar`) bundle: regular files only, paths checked, limits applied
/// while reading, so a hostile archive cannot make Plaza write outside the bundle or fill memory.
pub fn bundle_from_tar(bytes: &[u8]) -> Result<RawBundle, Invalid> {
    let bad = |why: &str| Invalid::new("bundle", why);
    let reader: Box<dyn Read + '_> =
        if bytes.starts_with(&[0x1f, 0x8b]) { Box::new(flate2::read::GzDecoder::new(bytes)) } else { Box::new(bytes) };
    let mut archive = tar::Archive::new(reader);
    let mut files = Vec::new();
    let mut total = 0usize;
    let entries = archive.entries().map_err(|_| bad("must be a tar or tar.gz archive"))?;
    for entry in entries {
        let mut entry = entry.map_err(|_| bad("is not a readable tar archive"))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        if !kind.is_file() {
            return Err(bad("may hold only regular files and directories"));
        }
        let path = entry.path().map_err(|_| bad("has a path that is not UTF-8"))?.to_string_lossy().into_owned();
        let size = entry.header().size().map_err(|_| bad("has a damaged header"))? as usize;
        total += size;
        if total > MAX_BUNDLE_BYTES || files.len() >= MAX_BUNDLE_FILES {
            return Err(bad("is too big: at most 2000 files and 50 MB"));
        }
        let mut body = Vec::with_capacity(size);
        entry.read_to_end(&mut body).map_err(|_| bad("is truncated"))?;
        files.push((path, body));
    }
    Ok(files)
}

impl Service {
    pub fn apps_url(&self) -> &AppsUrl {
        &self.config.apps_url
    }

    /// The URL a registered app opens at: its hosted origin once deployed, else its own URL.
    pub fn app_url(&self, bot: &User, app: &WebApp) -> Option<String> {
        match (&app.live_version, &app.url) {
            (Some(_), _) => Some(format!("{}/", self.apps_url().origin(bot.username.as_str(), &app.short_name))),
            (None, Some(url)) => Some(url.as_str().to_string()),
            (None, None) => None,
        }
    }

    /// `bot`, if `me` owns it; otherwise as if there were no such bot.
    pub async fn owned_bot(&self, me: UserId, bot: &str) -> ServiceResult<User> {
        let bot = Username::parse(bot)?;
        let record = self
            .store
            .list_bots()
            .await?
            .into_iter()
            .find(|r| r.bot.username == bot && r.owner.id == me)
            .ok_or(Denied::UserNotFound)?;
        Ok(record.bot)
    }

    /// A bot's app by short name (case-insensitive, as Telegram's links are).
    pub async fn webapp(&self, bot: &User, short_name: &str) -> ServiceResult<WebApp> {
        let apps = self.store.webapps(bot.id).await?;
        Ok(apps
            .into_iter()
            .find(|a| a.short_name.as_str().eq_ignore_ascii_case(short_name))
            .ok_or(Denied::WebAppNotFound)?)
    }

    async fn bot_named(&self, bot: &str) -> ServiceResult<User> {
        let bot = self.store.user_by_username(&Username::parse(bot)?).await?;
        if !bot.is_bot {
            return Err(Denied::UserNotFound.into());
        }
        Ok(bot)
    }

    /// Deploys a bundle to `bot`'s app `short_name`, registering the app (titled by its short
    /// name) if it is new. The bundle needs an `index.html` at its root; a bundle whose files all
    /// sit in one top-level directory (as `tar czf app.tgz dist/` makes) is taken from inside it.
    pub async fn deploy_webapp(&self, bot: &str, short_name: &str, bundle: RawBundle) -> ServiceResult<AppVersion> {
        let bot = self.bot_named(bot).await?;
        let short = ShortName::parse(short_name)?;
        let mut files = Vec::with_capacity(bundle.len());
        let mut total = 0usize;
        for (path, bytes) in bundle {
            let path = parse_bundle_path(&path)?;
            total += bytes.len();
            let content_type = mime_guess::from_path(&path).first_or_octet_stream();
            let content_type = match content_type.type_() {
                mime_guess::mime::TEXT => format!("{content_type}; charset=utf-8"),
                _ if content_type.subtype() == "javascript" || content_type.subtype() == "json" => {
                    format!("{content_type}; charset=utf-8")
                }
                _ => content_type.to_string(),
            };
            files.push(BundleFile { path, content_type, sha256: sha256(&bytes), bytes });
        }
        if files.is_empty() || files.len() > MAX_BUNDLE_FILES || total > MAX_BUNDLE_BYTES {
            return Err(Invalid::new("bundle", "must hold 1 to 2000 files of at most 50 MB in all").into());
        }
        strip_common_directory(&mut files);
        files.sort_by(|a, b| a.path.cmp(&b.path));
        if files.windows(2).any(|w| w[0].path == w[1].path) {
            return Err(Invalid::new("bundle", "holds the same path twice").into());
        }
        if !files.iter().any(|f| f.path == "index.html") {
            return Err(Invalid::new("bundle", "needs an index.html at its root").into());
        }
        let apps = self.store.webapps(bot.id).await?;
        let short = match apps.into_iter().find(|a| a.short_name.as_str().eq_ignore_ascii_case(short.as_str())) {
            Some(app) => app.short_name,
            None => {
                let app = WebApp {
                    bot: bot.id,
                    short_name: short.clone(),
                    title: short.as_str().to_string(),
                    description: String::new(),
                    url: None,
                    live_version: None,
                    main: false,
                };
                self.store.put_webapp(app).await?;
                short
            }
        };
        let digest = bundle_digest(&files);
        let live =
            self.store.webapps(bot.id).await?.into_iter().find(|a| a.short_name == short).and_then(|a| a.live_version);
        if let Some(live) = live {
            let versions = self.store.webapp_versions(bot.id, &short).await?;
            if let Some(same) = versions.into_iter().find(|v| v.version == live && v.digest == digest) {
                // The bundle being served already: nothing to do.
                return Ok(same);
            }
        }
        let now = self.now();
        let bytes = total as u64;
        let count = files.len() as u32;
        let version = self.store.deploy_webapp(bot.id, &short, files, digest.clone(), now).await?;
        tracing::info!(bot = %bot.username.as_str(), app = short.as_str(), version, files = count, bytes, "mini app deployed");
        Ok(AppVersion { version, created_at: now, files: count, bytes, digest })
    }

    /// The app and its deployed versions.
    pub async fn webapp_versions(&self, bot: &str, short_name: &str) -> ServiceResult<(WebApp, Vec<AppVersion>)> {
        let bot = self.bot_named(bot).await?;
        let app = self.webapp(&bot, short_name).await?;
        let versions = self.store.webapp_versions(bot.id, &app.short_name).await?;
        Ok((app, versions))
    }

    /// Makes version `to` live, or by default the newest version older than the live one.
    pub async fn rollback_webapp(&self, bot: &str, short_name: &str, to: Option<u32>) -> ServiceResult<u32> {
        let (app, versions) = self.webapp_versions(bot, short_name).await?;
        let to = match to {
            Some(v) => v,
            None => {
                let live = app.live_version.ok_or(Denied::AppVersionNotFound)?;
                versions.iter().rev().map(|v| v.version).find(|&v| v < live).ok_or(Denied::AppVersionNotFound)?
            }
        };
        self.store.set_live_version(app.bot, &app.short_name, to).await?;
        tracing::info!(bot, app = app.short_name.as_str(), version = to, "mini app rolled back");
        Ok(to)
    }

    /// The file a request to a hosted app's origin asks for: `host` is its `Host` header. `/` is
    /// `index.html`; a path with no file extension that names no file is the app's own route and
    /// gets `index.html` too, as single-page apps expect.
    pub async fn hosted_file(&self, host: &str, path: &str) -> ServiceResult<Hosted> {
        let Some((short, bot)) = self.apps_url().app_of_host(host) else { return Ok(Hosted::NoApp) };
        let Ok(bot) = self.bot_named(&bot).await else { return Ok(Hosted::NoApp) };
        let Ok(app) = self.webapp(&bot, &short).await else { return Ok(Hosted::NoApp) };
        let Some(version) = app.live_version else { return Ok(Hosted::NoApp) };
        let path = path.trim_start_matches('/');
        let path = if path.is_empty() || path.ends_with('/') { format!("{path}index.html") } else { path.to_string() };
        let Ok(path) = parse_bundle_path(&path) else { return Ok(Hosted::NotFound) };
        if let Some(file) = self.store.webapp_file(bot.id, &app.short_name, version, &path).await? {
            return Ok(Hosted::File(file));
        }
        let last = path.rsplit('/').next().unwrap_or_default();
        if !last.contains('.')
            && let Some(file) = self.store.webapp_file(bot.id, &app.short_name, version, "index.html").await?
        {
            return Ok(Hosted::File(file));
        }
        Ok(Hosted::NotFound)
    }
}

/// Names a bundle's content: its sorted paths and their contents' digests.
fn bundle_digest(files: &[BundleFile]) -> Vec<u8> {
    let mut text = Vec::new();
    for f in files {
        text.extend_from_slice(f.path.as_bytes());
        text.push(0);
        text.extend_from_slice(&f.sha256);
    }
    sha256(&text)
}

/// `dist/index.html, dist/app.js` → `index.html, app.js`, when every file shares that one directory.
fn strip_common_directory(files: &mut [BundleFile]) {
    let Some(first) = files.first() else { return };
    let Some((dir, _)) = first.path.split_once('/') else { return };
    let prefix = format!("{dir}/");
    if files.iter().all(|f| f.path.starts_with(&prefix)) {
        for f in files.iter_mut() {
            f.path = f.path[prefix.len()..].to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (path, body) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, path, *body).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn a_tar_gz_bundle_is_read_with_its_paths() {
        let files = bundle_from_tar(&tar(&[("index.html", b"<p>hi"), ("js/app.js", b"1")])).unwrap();
        assert_eq!(
            files,
            vec![("index.html".to_string(), b"<p>hi".to_vec()), ("js/app.js".to_string(), b"1".to_vec())]
        );
        assert!(bundle_from_tar(b"not an archive at all, just some bytes that go on for a while").is_err());
    }

    #[test]
    fn a_shared_top_directory_is_dropped() {
        let f = |p: &str| BundleFile { path: p.into(), content_type: String::new(), sha256: vec![], bytes: vec![] };
        let mut files = vec![f("dist/index.html"), f("dist/a/b.js")];
        strip_common_directory(&mut files);
        assert_eq!(files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["index.html", "a/b.js"]);
        let mut files = vec![f("index.html"), f("a/b.js")];
        strip_common_directory(&mut files);
        assert_eq!(files[1].path, "a/b.js");
    }
}
