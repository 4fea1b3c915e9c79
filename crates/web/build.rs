//! Compiles the web client in `web/` into assets embedded in the binary.
//!
//! Each `web/src/**/*.ts` module is type-stripped and minified by oxc (a Rust TypeScript compiler),
//! so `cargo build` needs no Node.js; `tsc --noEmit` type-checks the same sources in the test
//! command. Modules stay separate ES modules: `index.html` preloads all of them at once. Every
//! asset is also gzipped here, once, at the best level. The build id (a digest of every asset) names
//! the asset directory, so assets can be cached forever and a new build is never mixed with an old.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use oxc_allocator::Allocator;
use oxc_codegen::{Codegen, CodegenOptions};
use oxc_diagnostics::OxcDiagnostic;
use oxc_minifier::{Minifier, MinifierOptions};
use oxc_parser::Parser;
use oxc_semantic::SemanticBuilder;
use oxc_span::SourceType;
use oxc_transformer::{TransformOptions, Transformer};
use sha2::{Digest, Sha256};

/// The browsers the client supports: every evergreen browser of the last few years.
const TARGET: &str = "es2022";

struct Built {
    /// Path under `/assets/<build>/`.
    path: String,
    content_type: &'static str,
    body: Vec<u8>,
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let web = manifest.join("../../web").canonicalize().expect("the web/ directory beside crates/");
    for watched in ["src", "sdk", "index.html", "style.css", "icon.svg"] {
        println!("cargo:rerun-if-changed={}", web.join(watched).display());
    }
    let apps = manifest.join("../../apps").canonicalize().expect("the apps/ directory beside crates/");
    println!("cargo:rerun-if-changed={}", apps.display());

    let mut assets = Vec::new();
    let mut modules = Vec::new();
    collect_modules(&web.join("src"), &web.join("src"), &mut modules);
    modules.sort();
    for (rel, path) in &modules {
        let source = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let js = compile(path, &source);
        assets.push(Built {
            path: rel.replace(".ts", ".js"),
            content_type: "text/javascript; charset=utf-8",
            body: js.into_bytes(),
        });
    }
    assets.push(Built {
        path: "style.css".into(),
        content_type: "text/css; charset=utf-8",
        body: std::fs::read(web.join("style.css")).expect("web/style.css"),
    });
    assets.push(Built {
        path: "icon.svg".into(),
        content_type: "image/svg+xml",
        body: std::fs::read(web.join("icon.svg")).expect("web/icon.svg"),
    });

    let mut digest = Sha256::new();
    for a in &assets {
        digest.update(a.path.as_bytes());
        digest.update([0]);
        digest.update(&a.body);
    }
    let build: String = digest.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect();

    let template = std::fs::read_to_string(web.join("index.html")).expect("web/index.html");
    let preload: String = assets
        .iter()
        .filter(|a| a.path.ends_with(".js") && a.path != "main.js")
        .map(|a| format!("<link rel=modulepreload href=/assets/{build}/{}>", a.path))
        .collect();
    let index = template.replace("{{build}}", &build).replace("{{preload}}", &preload);
    assert!(!index.contains("{{"), "web/index.html has a placeholder build.rs does not fill");

    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let dir = out.join("web");
    std::fs::create_dir_all(&dir).expect("OUT_DIR/web");
    let mut code = String::new();
    writeln!(code, "/// Names the asset directory; changes whenever any asset does.").unwrap();
    writeln!(code, "pub const BUILD_ID: &str = {build:?};").unwrap();
    writeln!(code, "/// `index.html`, served for `/` and for deep links.").unwrap();
    writeln!(
        code,
        "pub static INDEX: Asset = {};",
        asset_expr(&dir, "index.html", "text/html; charset=utf-8", index.as_bytes())
    )
    .unwrap();
    let sdk_path = web.join("sdk/telegram-web-app.ts");
    let sdk_source = std::fs::read_to_string(&sdk_path).expect("web/sdk/telegram-web-app.ts");
    let sdk = compile(&sdk_path, &sdk_source);
    writeln!(code, "/// Plaza's `telegram-web-app.js`, served at `/js/telegram-web-app.js`.").unwrap();
    writeln!(
        code,
        "pub static TELEGRAM_WEB_APP_JS: Asset = {};",
        asset_expr(&dir, "telegram-web-app.js", "text/javascript; charset=utf-8", sdk.as_bytes())
    )
    .unwrap();

    // The demo mini apps, as their files are: `serve --demo` deploys them like any bundle.
    writeln!(code, "/// The demo mini apps of `apps/`: (app, path in its bundle, bytes), sorted.").unwrap();
    writeln!(code, "pub static DEMO_APPS: &[(&str, &str, &[u8])] = &[").unwrap();
    let mut demo = Vec::new();
    for entry in std::fs::read_dir(&apps).expect("apps/") {
        let app_dir = entry.expect("directory entry").path();
        if app_dir.is_dir() {
            let name = app_dir.file_name().expect("a name").to_string_lossy().into_owned();
            let mut files = Vec::new();
            collect_files(&app_dir, &app_dir, &mut files);
            for (rel, path) in files {
                demo.push((name.clone(), rel, path));
            }
        }
    }
    demo.sort();
    for (app, rel, path) in &demo {
        writeln!(code, "    ({app:?}, {rel:?}, include_bytes!({:?})),", path.display().to_string()).unwrap();
    }
    writeln!(code, "];").unwrap();

    writeln!(code, "/// Everything under `/assets/<BUILD_ID>/`, sorted by path.").unwrap();
    writeln!(code, "pub static ASSETS: &[Asset] = &[").unwrap();
    assets.sort_by(|a, b| a.path.cmp(&b.path));
    for a in &assets {
        writeln!(code, "    {},", asset_expr(&dir, &a.path, a.content_type, &a.body)).unwrap();
    }
    writeln!(code, "];").unwrap();
    std::fs::write(out.join("assets.rs"), code).expect("assets.rs");
}

/// Every `.ts` file under `dir`, with its path relative to `root` (with `/` separators).
fn collect_modules(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect_modules(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "ts") && !path.to_string_lossy().ends_with(".d.ts") {
            let rel = path.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
            out.push((rel, path));
        }
    }
}

/// Every file under `dir` (but dotfiles), with its path relative to `root`.
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        if path.is_dir() {
            collect_files(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
            out.push((rel, path.canonicalize().expect("a file")));
        }
    }
}

/// Writes the asset and its gzip into `dir` and returns the `Asset` expression that embeds them.
fn asset_expr(dir: &Path, path: &str, content_type: &str, body: &[u8]) -> String {
    let file = dir.join(path.replace('/', "__"));
    std::fs::write(&file, body).expect("asset");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(body).expect("gzip");
    let gz_file = dir.join(format!("{}.gz", path.replace('/', "__")));
    std::fs::write(&gz_file, gz.finish().expect("gzip")).expect("asset.gz");
    format!(
        "Asset {{ path: {path:?}, content_type: {content_type:?}, body: include_bytes!({:?}), gzip: include_bytes!({:?}) }}",
        file.display().to_string(),
        gz_file.display().to_string()
    )
}

/// TypeScript to minified JavaScript; a syntax or transform error fails the build with its location.
fn compile(path: &Path, source: &str) -> String {
    let fail = |stage: &str, diagnostics: Vec<OxcDiagnostic>| -> ! {
        let rendered: Vec<String> =
            diagnostics.into_iter().map(|d| d.render_with_source_code(source.to_string())).collect();
        panic!("web client: {stage} errors in {}:\n{}", path.display(), rendered.join("\n"));
    };
    let allocator = Allocator::default();
    let source_type = SourceType::from_path(path).expect("a .ts path");
    let parsed = Parser::new(&allocator, source, source_type).parse();
    if parsed.diagnostics.has_errors() {
        fail("syntax", parsed.diagnostics.into_vec());
    }
    let mut program = parsed.program;
    let semantic = SemanticBuilder::new().build(&program);
    if semantic.diagnostics.has_errors() {
        fail("semantic", semantic.diagnostics.into_vec());
    }
    let options = TransformOptions::from_target(TARGET).expect("a known target");
    let transformed =
        Transformer::new(&allocator, path, &options).build_with_scoping(semantic.semantic.into_scoping(), &mut program);
    if transformed.diagnostics.has_errors() {
        fail("transform", transformed.diagnostics.into_vec());
    }
    let minified = Minifier::new(MinifierOptions::default()).minify(&allocator, &mut program);
    Codegen::new().with_options(CodegenOptions::minify()).with_scoping(minified.scoping).build(&program).code
}
