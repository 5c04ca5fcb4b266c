//! Helpers shared by the integration tests: fixture trees are built here, not copied in.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// A deterministic, valid Nix32 hash for a seed.
pub fn hash(seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..32)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % 32) as usize] as char
        })
        .collect()
}

pub fn store_path(seed: u64, name: &str) -> String {
    format!("/nix/store/{}-{name}", hash(seed))
}

pub fn neutral(path: &str) -> String {
    let h = &path["/nix/store/".len().."/nix/store/".len() + 32];
    path.replacen(h, &"e".repeat(32), 1)
}

pub fn tool(name: &str) -> Command {
    let exe = match name {
        "strip-store-refs" => env!("CARGO_BIN_EXE_strip-store-refs"),
        "patch-rpaths" => env!("CARGO_BIN_EXE_patch-rpaths"),
        "fix-venv" => env!("CARGO_BIN_EXE_fix-venv"),
        other => panic!("unknown tool {other}"),
    };
    let mut cmd = Command::new(exe);
    // The tests pick the store directory themselves; a developer's Nix settings must not leak in.
    cmd.env_remove("NIX_STORE_DIR")
        .env_remove("NIX_STORE")
        .env_remove("NIX_BUILD_CORES");
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("tool runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn write(root: &Path, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, contents).unwrap();
    path
}

/// Every file's path and bytes (symlinks as their targets), for before/after comparisons.
pub fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    use std::os::unix::ffi::OsStrExt;
    let mut all = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.unwrap();
        let ft = entry.file_type();
        let bytes = if ft.is_symlink() {
            std::fs::read_link(entry.path())
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec()
        } else if ft.is_file() {
            std::fs::read(entry.path()).unwrap()
        } else {
            continue;
        };
        all.push((entry.path().to_path_buf(), bytes));
    }
    all
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The shared realistic fixture (scripts/make-fixture --size small): `FIXUP_HOOKS_FIXTURE`
/// when scripts/test built it, else built here into target/fixture-small. Never skipped: a
/// missing fixture is a failure.
pub fn fixture() -> &'static Path {
    static FIXTURE: OnceLock<PathBuf> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        if let Some(dir) = std::env::var_os("FIXUP_HOOKS_FIXTURE") {
            return PathBuf::from(dir);
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixture-small");
        let status =
            Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-fixture"))
                .args(["--size", "small"])
                .arg(&dir)
                .status()
                .expect("scripts/make-fixture runs");
        assert!(status.success(), "scripts/make-fixture failed");
        dir
    })
}
