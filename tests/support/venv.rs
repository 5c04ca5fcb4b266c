//! Helpers for the fix-venv tests: real venvs built once per target dir by real uv from PyPI,
//! and small synthetic venvs for hostile input. Never skipped: a missing uv is a failure.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The interpreter the fixture venvs are made with and restored for.
pub const PYTHON: &str = "/usr/bin/python3.11";
/// Fake store hashes (valid Nix32) for the FOD's own output and for its Python.
pub const VENV_HASH: &str = "0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r";
pub const PYTHON_HASH: &str = "5r4q3p2n1m0l9k8j7i6h5g4f3d2c1b0a";
/// What the fixture installs from PyPI (pinned), besides the local fixture-tool project.
pub const PYPI: &[&str] = &["pygments==2.21.0", "markdown-it-py==4.3.0", "mdurl==0.1.2"];
/// Bump when the fixture's recipe changes, so old caches are rebuilt.
const RECIPE: &str = "venv-fixture v1";

pub struct Fixture {
    pub root: PathBuf,
    /// `root/store`: stands in for /nix/store.
    pub store: PathBuf,
    /// `store/HASH-venv`: the FOD output, made by `uv venv` + `uv pip install`.
    pub venv: PathBuf,
    /// The same packages at a path whose shebang would pass 127 bytes.
    pub long_venv: PathBuf,
    /// fixture-tool at a path with a space.
    pub space_venv: PathBuf,
    /// The local project (console + GUI script, data scripts in bin/).
    pub tool: PathBuf,
}

pub fn fix_venv() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fix-venv"))
}

pub fn strip_store_refs() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strip-store-refs"));
    cmd.env_remove("NIX_STORE_DIR").env_remove("NIX_STORE");
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("command runs");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

pub use super::common::{stderr, stdout, write};

/// Every entry's path, kind, mode and bytes (symlinks as targets), for before/after checks.
pub fn snapshot(root: &Path) -> Vec<(PathBuf, String, u32, Vec<u8>)> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let mut all = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.unwrap();
        let ft = entry.file_type();
        let mode = entry.metadata().unwrap().permissions().mode();
        let (kind, bytes) = if ft.is_symlink() {
            let t = std::fs::read_link(entry.path()).unwrap();
            ("link", t.as_os_str().as_bytes().to_vec())
        } else if ft.is_file() {
            ("file", std::fs::read(entry.path()).unwrap())
        } else {
            ("dir", Vec::new())
        };
        all.push((entry.path().to_path_buf(), kind.to_string(), mode, bytes));
    }
    all
}

/// Copies a tree with `cp -a` (symlinks kept as they are).
pub fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

fn uv() -> Command {
    let probe = Command::new("uv").arg("--version").output();
    match probe {
        Ok(out) if out.status.success() => {}
        _ => panic!(
            "uv is not on PATH: the fix-venv tests build real venvs with it; \
             run scripts/install-deps"
        ),
    }
    assert!(
        Path::new(PYTHON).exists(),
        "{PYTHON} is missing: the fix-venv tests build their venvs with it"
    );
    let cache = std::env::var_os("FIXUP_HOOKS_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("fixup-hooks"))
        })
        .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/fixup-hooks")))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/uv-cache"));
    let mut cmd = Command::new("uv");
    cmd.env("UV_CACHE_DIR", cache.join("uv"))
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env_remove("VIRTUAL_ENV")
        .env_remove("UV_VENV_RELOCATABLE");
    cmd
}

fn uv_ok(cmd: &mut Command) {
    let out = cmd.output().expect("uv runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const PYPROJECT: &str = r#"[project]
name = "fixture-tool"
version = "1.2.3"
requires-python = ">=3.8"

[project.scripts]
fixture-cli = "fixture_tool.main:cli"

[project.gui-scripts]
fixture-gui = "fixture_tool.main:gui"

[build-system]
requires = ["uv_build>=0.8,<0.14"]
build-backend = "uv_build"

[tool.uv.build-backend.data]
scripts = "scripts"
"#;

const MAIN_PY: &str = r#"import sys


def cli():
    print("fixture-cli 1.2.3", sys.argv[1:])
    return 0


def gui():
    print("fixture-gui 1.2.3", sys.argv[1:])
    return 0
"#;

/// The local project: a console script, a GUI script, and two data scripts that land in
/// bin/ without being entry points: `fixture-sh` (a shell script) and `fixture-py`
/// (`#!python`, which uv points at the venv).
pub fn write_tool(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    write(dir, "pyproject.toml", PYPROJECT);
    write(dir, "src/fixture_tool/__init__.py", "");
    write(dir, "src/fixture_tool/main.py", MAIN_PY);
    for (name, text) in [
        ("fixture-sh", "#!/bin/sh\necho fixture-shell-script\n"),
        ("fixture-py", "#!python\nprint(\"fixture-py-script\")\n"),
    ] {
        let p = write(dir, &format!("scripts/{name}"), text);
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn make_venv(venv: &Path, packages: &[&str], tool: &Path) {
    std::fs::create_dir_all(venv.parent().unwrap()).unwrap();
    uv_ok(uv().args(["venv", "--quiet", "--python", PYTHON]).arg(venv));
    uv_ok(
        uv().args([
            "pip",
            "install",
            "--quiet",
            "--compile-bytecode",
            "--python",
        ])
        .arg(venv.join("bin/python"))
        .arg(tool)
        .args(packages),
    );
}

/// Builds the fixture once into target/venv-fixture (kept across runs; rebuilt when missing
/// or when the recipe changes).
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv-fixture");
        let store = root.join("store");
        let long_dir = format!("long-{}", "x".repeat(110));
        let fixture = Fixture {
            venv: store.join(format!("{VENV_HASH}-venv")),
            long_venv: root.join(long_dir).join("venv"),
            space_venv: root.join("with space/venv"),
            tool: root.join("fixture-tool"),
            store,
            root: root.clone(),
        };
        // Checked even when the cache is there: these tests need uv, and say so.
        let _ = uv();
        let stamp = root.join("DONE");
        if std::fs::read_to_string(&stamp).ok().as_deref() == Some(RECIPE) {
            return fixture;
        }
        if root.exists() {
            std::fs::remove_dir_all(&root).unwrap();
        }
        std::fs::create_dir_all(&root).unwrap();
        write_tool(&fixture.tool);
        make_venv(&fixture.venv, PYPI, &fixture.tool);
        make_venv(&fixture.long_venv, &["pygments==2.21.0"], &fixture.tool);
        make_venv(&fixture.space_venv, &[], &fixture.tool);
        std::fs::write(&stamp, RECIPE).unwrap();
        fixture
    })
}

/// A hand-made venv skeleton for `python3.X` (no uv needed): pyvenv.cfg, lib64 and an
/// empty site-packages.
pub fn skeleton(root: &Path, version_dir: &str, version_info: &str) -> PathBuf {
    let site = root.join(format!("lib/{version_dir}/site-packages"));
    std::fs::create_dir_all(&site).unwrap();
    std::os::unix::fs::symlink("lib", root.join("lib64")).unwrap();
    write(
        root,
        "pyvenv.cfg",
        format!(
            "home = /nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-python3-{version_info}/bin\n\
             implementation = CPython\nuv = 0.13.9\nversion_info = {version_info}\n\
             include-system-site-packages = false\nprompt = proj\n"
        ),
    );
    site
}

/// Runs `PYTHON -c CODE` and returns its stdout, trimmed.
pub fn python_says(python: &Path, code: &str) -> String {
    let out = Command::new(python).args(["-c", code]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `PATH,sha256=…,SIZE`: the RECORD line of a file holding `contents`.
pub fn record_line(path: &str, contents: &[u8]) -> String {
    fixup_hooks::venv::record::RecordEntry::of_contents(path, contents).to_string()
}

/// A minimal venv-like tree at `root` (see [`skeleton`]) whose site-packages holds `files`
/// and `NAME-VERSION.dist-info` per entry of `dists`, each RECORD listing the lines given
/// plus its own. Returns site-packages.
pub fn venv_tree(root: &Path, files: &[(&str, &[u8])], dists: &[(&str, Vec<String>)]) -> PathBuf {
    let site = skeleton(root, "python3.11", "3.11.7");
    for (rel, contents) in files {
        write(&site, rel, contents);
    }
    for (dist, lines) in dists {
        let own = format!("{dist}.dist-info/RECORD,,");
        let text: String = lines
            .iter()
            .chain([&own])
            .map(|l| format!("{l}\n"))
            .collect();
        write(&site, &format!("{dist}.dist-info/RECORD"), text);
    }
    site
}

/// Compiles `source` as `ext.c` with `gcc -g -shared -fPIC -Wl,--build-id` inside `dir`
/// (created), as a build in a temporary directory does: the directory lands in the debug
/// info (DW_AT_comp_dir), and the build-id, a hash of the whole file, follows it.
pub fn gcc_shared_in(dir: &Path, source: &str) -> Vec<u8> {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("ext.c"), source).unwrap();
    let out = Command::new("gcc")
        .args([
            "-g",
            "-shared",
            "-fPIC",
            "-Wl,--build-id",
            "-o",
            "_ext.so",
            "ext.c",
        ])
        .current_dir(dir)
        .output()
        .expect("gcc runs (scripts/install-deps installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(dir.join("_ext.so")).unwrap()
}

/// `fix-venv diff --report json OLD NEW`: its exit code, its JSON report and its stderr.
pub fn diff_json(old: &Path, new: &Path) -> (Option<i32>, serde_json::Value, String) {
    let out = run(fix_venv()
        .args(["diff", "--report", "json"])
        .arg(old)
        .arg(new));
    let json =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    (out.status.code(), json, stderr(&out))
}

/// The report's differences at `path`, as `(difference, causes)`, the causes by name.
pub fn differences_at(json: &serde_json::Value, path: &str) -> Vec<(String, Vec<String>)> {
    json["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["path"] == path)
        .map(|d| {
            let causes = d["causes"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .map(|c| c["cause"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            (d["difference"].as_str().unwrap().to_string(), causes)
        })
        .collect()
}

/// The first cause named `name` of the contents difference at `path`.
pub fn cause_at<'a>(json: &'a serde_json::Value, path: &str, name: &str) -> &'a serde_json::Value {
    json["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["path"] == path)
        .flat_map(|d| d["causes"].as_array().into_iter().flatten())
        .find(|c| c["cause"] == name)
        .unwrap_or_else(|| panic!("no {name} at {path} in {json:#}"))
}
