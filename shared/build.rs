//! Embeds the templates (`templates/**`: emails and the few pages functions serve) in the binary, so a function reads no
//! files at run time and a missing template is a build-time fact, not a runtime surprise.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The same parser the functions use, so a template it cannot read fails the build.
#[allow(dead_code)]
#[path = "src/domain/template.rs"]
mod template;

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    // Every folder, not only the root: a file added to a locale's folder changes that
    // folder's time, not the root's, and must still rebuild the table.
    println!("cargo:rerun-if-changed={}", dir.display());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "txt" || e == "html") {
            out.push(path);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=src/domain/template.rs");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|file| {
            file.strip_prefix(&root)
                .expect("under the root")
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    let mut code = String::from("pub static TEMPLATES: &[(&str, &str)] = &[\n");
    for (file, name) in files.iter().zip(&names) {
        let source = std::fs::read_to_string(file).expect("read a template");
        let parsed = template::parse(&source).unwrap_or_else(|e| panic!("templates/{name}: {e}"));
        if let Some(layout) = parsed.extends() {
            assert!(
                names.iter().any(|n| n == layout),
                "templates/{name} extends {layout}, which is not a template"
            );
        }
        writeln!(code, "    ({name:?}, include_str!({:?})),", file.display()).unwrap();
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("email_templates.rs"), code).expect("write the template table");
}
