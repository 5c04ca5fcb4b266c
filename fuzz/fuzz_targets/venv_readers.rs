//! fix-venv's readers of hostile wheel / project input, on arbitrary bytes:
//! - `entry_points::parse` (and `check_name`, `parse_reference`, `is_identifier`): no panic;
//!   every accepted script has a name that passes `check_name` (so no `/`, `\`, `..`, control
//!   character, U+FFFD or surrounding whitespace) and a module/attr made of dotted identifiers;
//! - `PyVenvCfg`: parse → render → parse is stable, and `set` reads back after a round trip;
//! - `source::read` (pyproject.toml; reachable only through the file system): no panic, and the
//!   entry_points.txt it generates is read back by `entry_points::parse` with every script it
//!   accepted and no refusal.
#![no_main]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fixup_hooks::venv::cfg::PyVenvCfg;
use fixup_hooks::venv::entry_points::{self, check_name, is_identifier, parse_reference, ScriptKind};
use fixup_hooks::venv::source;
use libfuzzer_sys::fuzz_target;

fn tmp_base() -> PathBuf {
    match std::env::var_os("FUZZ_TMPDIR") {
        Some(d) => PathBuf::from(d),
        None if Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
        None => std::env::temp_dir(),
    }
}

thread_local! {
    static DIR: tempfile::TempDir = tempfile::Builder::new()
        .prefix("fzvenv")
        .tempdir_in(tmp_base())
        .expect("temp dir");
}

fn check_script(s: &entry_points::EntryPoint) {
    let n = &s.name;
    assert!(
        !n.is_empty()
            && !n.contains('/')
            && !n.contains('\\')
            && !n.contains("..")
            && !n.chars().any(|c| c.is_control() || c == '\u{FFFD}'),
        "accepted script name {n:?}"
    );
    assert_eq!(
        check_name(n),
        Ok(()),
        "accepted script name {n:?} fails check_name"
    );
    for part in s.module.split('.').chain(s.attr.split('.')) {
        assert!(
            is_identifier(part),
            "accepted reference {}:{}",
            s.module,
            s.attr
        );
    }
}

fn entry_points_txt(data: &[u8], minor: u32) {
    let parsed = entry_points::parse(data, minor);
    for s in &parsed.scripts {
        check_script(s);
    }
    for r in &parsed.refused {
        assert!(
            !r.text.chars().any(|c| c.is_control()),
            "refusal text not escaped: {:?}",
            r.text
        );
    }
}

fn pyvenv_cfg(text: &str) {
    let cfg = PyVenvCfg::parse(text);
    let _ = cfg.is_relocatable();
    let rendered = cfg.render();
    // A lone trailing `\r` is dropped by `str::lines` on the second read; that is all.
    if !text.contains('\r') {
        assert_eq!(
            PyVenvCfg::parse(&rendered),
            cfg,
            "parse(render(cfg)) != cfg"
        );
    }
    // `set` a plain value and read it back after a round trip.
    let value: String = text
        .chars()
        .filter(|c| !matches!(c, '\n' | '\r'))
        .take(40)
        .collect::<String>()
        .trim()
        .to_string();
    for key in ["home", "relocatable", "prompt", "zz"] {
        let mut c = cfg.clone();
        c.set(key, &value);
        assert_eq!(c.get(key), Some(value.as_str()));
        let back = PyVenvCfg::parse(&c.render());
        assert_eq!(
            back.get(key),
            Some(value.as_str()),
            "set({key}) lost in render"
        );
    }
}

/// `[project.KEY]` as name → value strings, when it is such a table.
fn table(doc: &toml::Table, key: &str) -> BTreeMap<String, String> {
    doc.get("project")
        .and_then(|p| p.get(key))
        .and_then(|t| t.as_table())
        .map(|t| {
            t.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn pyproject(text: &str, layout: u8) {
    DIR.with(|dir| {
        let root = dir.path().join("p");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("pyproject.toml"), text).unwrap();
        // Give the import package the reader looks for a home, so it gets past that check.
        let doc: Option<toml::Table> = text.parse().ok();
        let module = doc.as_ref().and_then(|d| {
            let explicit = d
                .get("tool")
                .and_then(|t| t.get("uv"))
                .and_then(|t| t.get("build-backend"))
                .and_then(|b| b.get("module-name"))
                .and_then(|m| m.as_str())
                .map(str::to_string);
            explicit.or_else(|| {
                d.get("project")
                    .and_then(|p| p.get("name"))
                    .and_then(|n| n.as_str())
                    .map(source::wheel_name)
            })
        });
        if let Some(m) = module.filter(|m| is_identifier(m)) {
            match layout % 3 {
                0 => std::fs::write(root.join(format!("{m}.py")), "x = 1\n").unwrap(),
                1 => {
                    let pkg = root.join("src").join(&m);
                    std::fs::create_dir_all(pkg.join("sub")).unwrap();
                    std::fs::write(pkg.join("__init__.py"), "").unwrap();
                    std::fs::write(pkg.join("sub").join("m.py"), "y = 2\n").unwrap();
                }
                _ => {}
            }
        }
        let site = dir.path().join("site-packages");
        let Ok(dist) = source::read(&root, &site) else {
            return;
        };
        let doc = doc.expect("source::read accepted a pyproject.toml that toml rejects");
        // What was accepted must come back from the generated entry_points.txt.
        let parsed = entry_points::parse(&dist.entry_points, 11);
        for r in &parsed.refused {
            assert!(
                r.reason.contains("defined twice"),
                "generated entry_points.txt line refused: {r:?}\n{}",
                String::from_utf8_lossy(&dist.entry_points)
            );
        }
        for s in &parsed.scripts {
            check_script(s);
        }
        for (kind, key) in [
            (ScriptKind::ConsoleScripts, "scripts"),
            (ScriptKind::GuiScripts, "gui-scripts"),
        ] {
            for (name, value) in table(&doc, key) {
                let (module, attr) = parse_reference(&value).expect("accepted value parses");
                let found = parsed.scripts.iter().find(|s| {
                    s.kind == kind
                        && (s.name == name
                            || (kind == ScriptKind::ConsoleScripts
                                && name.starts_with("pip3.")
                                && s.name == "pip3.11"))
                });
                let duplicate = parsed
                    .refused
                    .iter()
                    .any(|r| r.reason.contains("defined twice"));
                match found {
                    Some(s) => assert_eq!(
                        (&s.module, &s.attr),
                        (&module, &attr),
                        "script {name:?} = {value:?} read back as {}:{}\n{}",
                        s.module,
                        s.attr,
                        String::from_utf8_lossy(&dist.entry_points)
                    ),
                    None => assert!(
                        duplicate,
                        "script {name:?} = {value:?} ({key}) missing from entry_points.txt:\n{}",
                        String::from_utf8_lossy(&dist.entry_points)
                    ),
                }
            }
        }
    });
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, data)) = data.split_first() else {
        return;
    };
    entry_points_txt(data, u32::from(sel));
    let text = String::from_utf8_lossy(data);
    let _ = check_name(&text);
    let _ = parse_reference(&text);
    let _ = is_identifier(&text);
    pyvenv_cfg(&text);
    if let Ok(text) = std::str::from_utf8(data) {
        pyproject(text, sel);
    }
});
