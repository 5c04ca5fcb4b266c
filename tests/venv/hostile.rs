//! Hostile input: entry points that try to leave bin/ or inject code, symlinks planted in
//! bin/, and a venv for another Python. Each is refused by name and nothing lands outside.

use std::os::unix::fs::symlink;
use std::path::Path;

use crate::support::venv::*;

const HOSTILE: &[u8] = b"[console_scripts]\n\
good = good_mod:main\n\
../../escape = good_mod:main\n\
/abs/evil = good_mod:main\n\
dots..name = good_mod:main\n\
sys-call = os:system('touch /tmp/pwned')\n\
semicolon = a; import os\n\
semi-attr = a:b; import os\n\
esc\x1bname = good_mod:main\n\
cr\rname = good_mod:main\n\
python3 = good_mod:main\n\
no-colon = good_mod\n\
\n\
[gui_scripts]\n\
gui-ok = good_mod:gui [extra]\n\
gui-bad = good_mod:gui()\n";

fn hostile_venv(tmp: &Path) -> std::path::PathBuf {
    let venv = tmp.join("venv");
    let site = skeleton(&venv, "python3.11", "3.11.7");
    write(
        &site,
        "good_mod.py",
        "def main():\n    print('good')\n\ndef gui():\n    print('gui')\n",
    );
    write(&site, "evil-1.0.dist-info/entry_points.txt", HOSTILE);
    write(&site, "evil-1.0.dist-info/RECORD", "good_mod.py,,\n");
    venv
}

#[test]
fn refuses_hostile_entry_points_and_writes_only_the_good_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = hostile_venv(tmp.path());
    let out = run(fix_venv().args(["restore", "--python", PYTHON]).arg(&venv));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let ep = "lib/python3.11/site-packages/evil-1.0.dist-info/entry_points.txt";
    for line in [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 16] {
        assert!(
            err.contains(&format!("warning: {ep}: line {line}: ")),
            "line {line} not refused:\n{err}"
        );
    }
    let mut bin: Vec<String> = std::fs::read_dir(venv.join("bin"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    bin.sort();
    assert_eq!(bin, ["good", "gui-ok", "python", "python3", "python3.11"]);
    // Nothing outside the venv: the temp dir holds only it.
    let outside: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, ["venv"]);
    assert!(!Path::new("/abs/evil").exists());
    let good = std::process::Command::new(venv.join("bin/good"))
        .output()
        .unwrap();
    assert_eq!(stdout(&good), "good\n");
}

#[test]
fn replaces_a_symlink_in_bin_instead_of_writing_through_it() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = hostile_venv(tmp.path());
    let victim = write(tmp.path(), "victim.txt", "untouched\n");
    std::fs::create_dir(venv.join("bin")).unwrap();
    symlink(&victim, venv.join("bin/good")).unwrap();
    let out = run(fix_venv().args(["restore", "--python", PYTHON]).arg(&venv));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched\n");
    let meta = std::fs::symlink_metadata(venv.join("bin/good")).unwrap();
    assert!(meta.file_type().is_file());
}

#[test]
fn refuses_a_bin_directory_that_is_a_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = hostile_venv(tmp.path());
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    symlink(&elsewhere, venv.join("bin")).unwrap();
    let out = run(fix_venv().args(["restore", "--python", PYTHON]).arg(&venv));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("bin"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn venv_for_another_python_is_a_clear_error_and_nothing_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = tmp.path().join("venv");
    let site = skeleton(&venv, "python3.12", "3.12.4");
    write(
        &site,
        "x-1.0.dist-info/entry_points.txt",
        "[console_scripts]\nx = x:main\n",
    );
    let before = snapshot(&venv);
    let out = run(fix_venv().args(["restore", "--python", PYTHON]).arg(&venv));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("lib/python3.12/site-packages"), "{err}");
    assert!(err.contains("lib/python3.11/site-packages"), "{err}");
    assert!(err.contains(PYTHON), "{err}");
    assert_eq!(snapshot(&venv), before);
}

#[test]
fn usage_errors_exit_2() {
    let out = run(fix_venv().args(["restore", "/nonexistent-venv"]));
    assert_eq!(out.status.code(), Some(2));
    let out = run(fix_venv().args(["restore", "--python", PYTHON, "--check-import", "os;x", "."]));
    assert_eq!(out.status.code(), Some(2));
    let out = run(fix_venv().args(["prepare", "/nonexistent-venv"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn missing_python_or_install_source_is_a_usage_error_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = tmp.path().join("venv");
    skeleton(&venv, "python3.11", "3.11.7");
    let before = snapshot(&venv);
    let out = run(fix_venv()
        .args(["restore", "--python", "/nonexistent/bin/python3.11"])
        .arg(&venv));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/nonexistent/bin/python3.11"),
        "{}",
        stderr(&out)
    );
    let missing = tmp.path().join("no-such-member");
    let out = run(fix_venv()
        .args(["restore", "--python", PYTHON, "--install-source"])
        .arg(&missing)
        .arg(&venv));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&missing.display().to_string()),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(&venv), before);
}

#[test]
fn json_report_lists_refusals() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = hostile_venv(tmp.path());
    let out = run(fix_venv()
        .args([
            "restore",
            "--dry-run",
            "--report",
            "json",
            "--python",
            PYTHON,
        ])
        .arg(&venv));
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["command"], "restore");
    assert_eq!(json["warnings"].as_array().unwrap().len(), 11);
    assert!(!venv.join("bin").exists(), "dry run created bin/");
}

// --- prepare: ELF files uv compiled here, and files two distributions install ---

const EXT_C: &str = "int ext_answer(void) { return 42; }\n";

/// Compiles `source` with debug info and a build-id in `dir` (which the DWARF records),
/// as an sdist's extension is compiled in uv's random build directory.
fn compile_ext(dir: &Path, source: &str) -> Vec<u8> {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("ext.c"), source).unwrap();
    let out = std::process::Command::new("gcc")
        .args([
            "-g",
            "-O1",
            "-shared",
            "-fPIC",
            "-Wl,--build-id",
            "-o",
            "ext.so",
            "ext.c",
        ])
        .current_dir(dir)
        .output()
        .expect("gcc runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(dir.join("ext.so")).unwrap()
}

/// A venv holding `ext` 1.0, built from source the way uv marks it (`uv_build.json`), with
/// `built` as its extension, and `wheel` 2.0, downloaded (no marker), with `downloaded`.
fn venv_with_extensions(venv: &Path, built: &[u8], downloaded: &[u8]) -> std::path::PathBuf {
    use fixup_hooks::venv::record::hash;
    let site = skeleton(venv, "python3.11", "3.11.7");
    write(&site, "ext/_ext.so", built);
    write(&site, "ext-1.0.dist-info/uv_build.json", "{}");
    write(
        &site,
        "ext-1.0.dist-info/RECORD",
        format!(
            "ext-1.0.dist-info/RECORD,,\next-1.0.dist-info/uv_build.json,{},2\n\
             ext/_ext.so,{},{}\n",
            hash(b"{}"),
            hash(built),
            built.len()
        ),
    );
    write(&site, "wheel/_wheel.so", downloaded);
    write(
        &site,
        "wheel-2.0.dist-info/RECORD",
        format!(
            "wheel-2.0.dist-info/RECORD,,\nwheel/_wheel.so,{},{}\n",
            hash(downloaded),
            downloaded.len()
        ),
    );
    site
}

/// `readelf -n`'s build-id, hex.
fn build_id(path: &Path) -> String {
    let out = std::process::Command::new("readelf")
        .arg("-n")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: ").map(str::to_string))
        .unwrap_or_else(|| panic!("no build-id in {}", path.display()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn prepare_makes_extensions_built_in_two_directories_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    // uv's build directories differ only in a random part of fixed length.
    let (dir_a, dir_b) = ("JpYYy6wKIocw1DxP", "CfuG0ZVwVQRbbk9z");
    let a = compile_ext(&tmp.path().join("sdists").join(dir_a).join("src"), EXT_C);
    let b = compile_ext(&tmp.path().join("sdists").join(dir_b).join("src"), EXT_C);
    let other = compile_ext(
        &tmp.path().join("sdists/0000000000000000/src"),
        "int ext_answer(void) { return 43; }\n",
    );
    assert_eq!(a.len(), b.len());
    assert_ne!(
        a, b,
        "gcc gave the same bytes in two directories: nothing to test"
    );
    assert!(contains(&a, dir_a.as_bytes()));

    let venvs: Vec<_> = [("a", &a), ("b", &b), ("other", &other)]
        .iter()
        .map(|(name, built)| {
            let venv = tmp.path().join(name);
            let site = venv_with_extensions(&venv, built, &a);
            (venv, site)
        })
        .collect();
    for (venv, _) in &venvs {
        let out = run(fix_venv().arg("prepare").arg(venv));
        assert!(out.status.success(), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("write lib/python3.11/site-packages/ext/_ext.so  (built from source"),
            "{err}"
        );
        assert!(
            err.contains("debug info names the build directory"),
            "{err}"
        );
        assert!(!err.contains("_wheel.so"), "{err}");
    }
    let ext = |i: usize| venvs[i].1.join("ext/_ext.so");
    let (na, nb) = (
        std::fs::read(ext(0)).unwrap(),
        std::fs::read(ext(1)).unwrap(),
    );
    assert_eq!(na, nb, "the two builds still differ");
    assert_eq!(na.len(), a.len());
    assert_ne!(na, a);
    assert!(
        !contains(&na, dir_a.as_bytes()),
        "the build directory survived"
    );
    // Still a library that loads and works, with a build-id that follows the code.
    let answer = python_says(
        Path::new(PYTHON),
        &format!(
            "import ctypes; print(ctypes.CDLL({:?}).ext_answer())",
            ext(0)
        ),
    );
    assert_eq!(answer, "42");
    let id = build_id(&ext(0));
    assert_ne!(
        id,
        build_id(&tmp.path().join(format!("sdists/{dir_a}/src/ext.so")))
    );
    assert_ne!(id, build_id(&ext(2)), "different code, same build-id");
    let nm = std::process::Command::new("nm")
        .arg("-D")
        .arg(ext(0))
        .output()
        .unwrap();
    assert!(stdout(&nm).contains("ext_answer"), "{}", stdout(&nm));
    for (_, site) in &venvs {
        let record = std::fs::read_to_string(site.join("ext-1.0.dist-info/RECORD")).unwrap();
        assert!(record.lines().any(|l| l == "ext/_ext.so,,"), "{record}");
        // The downloaded wheel's extension and its line stay as they were.
        assert_eq!(std::fs::read(site.join("wheel/_wheel.so")).unwrap(), a);
        let record = std::fs::read_to_string(site.join("wheel-2.0.dist-info/RECORD")).unwrap();
        assert!(
            record.contains(&fixup_hooks::venv::record::hash(&a)),
            "{record}"
        );
    }
    // A second run finds nothing left to do.
    let out = run(fix_venv().arg("prepare").arg(&venvs[0].0));
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("nothing to change"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn truncated_elf_built_from_source_is_an_error_naming_it_and_nothing_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let full = compile_ext(&tmp.path().join("build/src"), EXT_C);
    let venv = tmp.path().join("venv");
    let site = venv_with_extensions(&venv, &full[..full.len() / 2], &full);
    write(&site, "ext/__pycache__/x.cpython-311.pyc", "bytecode");
    let before = snapshot(&venv);
    let out = run(fix_venv().arg("prepare").arg(&venv));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}: malformed ELF",
            site.join("ext/_ext.so").display()
        )),
        "{err}"
    );
    assert_eq!(snapshot(&venv), before);
}

/// Two distributions listing `docs/Makefile`: django-tenants with `theirs`, pyrad with
/// `ours`, which is the file uv left (it wrote pyrad last).
fn clashing_venv(venv: &Path, theirs: &[u8], ours: &[u8]) -> std::path::PathBuf {
    use fixup_hooks::venv::record::hash;
    let site = skeleton(venv, "python3.11", "3.11.7");
    write(&site, "docs/Makefile", ours);
    write(&site, "tenants/__init__.py", "");
    write(
        &site,
        "tenants/__pycache__/__init__.cpython-311.pyc",
        "bytecode",
    );
    write(
        &site,
        "django_tenants-3.10.1.dist-info/RECORD",
        format!(
            "django_tenants-3.10.1.dist-info/RECORD,,\ndocs/Makefile,{},{}\n\
             tenants/__init__.py,{},0\n",
            hash(theirs),
            theirs.len(),
            hash(b"")
        ),
    );
    write(
        &site,
        "pyrad-2.5.4.dist-info/RECORD",
        format!(
            "docs/Makefile,{},{}\npyrad-2.5.4.dist-info/RECORD,,\n",
            hash(ours),
            ours.len()
        ),
    );
    site
}

#[test]
fn two_distributions_installing_one_path_differently_are_refused_until_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = tmp.path().join("venv");
    let site = clashing_venv(&venv, b"tenants docs\n", b"pyrad docs\n");
    let before = snapshot(&venv);
    let out = run(fix_venv().arg("prepare").arg(&venv));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let makefile = site.join("docs/Makefile");
    assert!(
        err.contains(&format!(
            "{}: installed by django_tenants-3.10.1 and pyrad-2.5.4 with different contents",
            makefile.display()
        )),
        "{err}"
    );
    assert!(err.contains("--drop docs/Makefile"), "{err}");
    assert_eq!(snapshot(&venv), before, "a refusal changed the venv");

    let out = run(fix_venv()
        .args(["prepare", "--report", "json", "--drop", "docs/Makefile"])
        .arg(&venv));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!makefile.exists());
    assert!(site.join("docs").is_dir());
    let tenants =
        std::fs::read_to_string(site.join("django_tenants-3.10.1.dist-info/RECORD")).unwrap();
    let pyrad = std::fs::read_to_string(site.join("pyrad-2.5.4.dist-info/RECORD")).unwrap();
    assert!(!tenants.contains("docs/Makefile") && tenants.contains("tenants/__init__.py"));
    assert_eq!(pyrad, "pyrad-2.5.4.dist-info/RECORD,,\n");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dropped: Vec<_> = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["what"] == "dropped")
        .collect();
    assert_eq!(dropped.len(), 1, "{json:#}");
    assert_eq!(
        dropped[0]["path"],
        "lib/python3.11/site-packages/docs/Makefile"
    );
    assert_eq!(dropped[0]["action"], "remove");
    let reason = dropped[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("django_tenants-3.10.1 and pyrad-2.5.4"),
        "{reason}"
    );
}

#[test]
fn two_distributions_agreeing_on_a_path_need_no_drop() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = tmp.path().join("venv");
    let site = clashing_venv(&venv, b"same docs\n", b"same docs\n");
    let out = run(fix_venv().arg("prepare").arg(&venv));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(site.join("docs/Makefile").exists());
}

#[test]
fn a_drop_naming_nothing_is_an_error_and_an_absolute_one_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = tmp.path().join("venv");
    clashing_venv(&venv, b"same docs\n", b"same docs\n");
    let before = snapshot(&venv);
    let out = run(fix_venv()
        .args(["prepare", "--drop", "docs/Nothing"])
        .arg(&venv));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--drop docs/Nothing: no such file"),
        "{}",
        stderr(&out)
    );
    let out = run(fix_venv()
        .args(["prepare", "--drop", "/etc/passwd"])
        .arg(&venv));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = run(fix_venv()
        .args(["prepare", "--drop", "../../../../x"])
        .arg(&venv));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(snapshot(&venv), before);
}

#[test]
fn a_vendored_dist_info_is_not_an_installed_distribution() {
    // bleach vendors html5lib with its dist-info (bleach/_vendor/html5lib-1.1.dist-info),
    // whose RECORD lists html5lib's files before bleach patched them. It installed nothing:
    // no clash with bleach's own RECORD, which lists the patched file.
    use fixup_hooks::venv::record::hash;
    let tmp = tempfile::tempdir().unwrap();
    let venv = tmp.path().join("venv");
    let site = skeleton(&venv, "python3.11", "3.11.7");
    let (original, patched) = (&b"upstream\n"[..], &b"patched by bleach\n"[..]);
    write(&site, "bleach/_vendor/html5lib/utils.py", patched);
    write(
        &site,
        "bleach/_vendor/html5lib-1.1.dist-info/RECORD",
        format!(
            "html5lib/utils.py,{},{}\nhtml5lib-1.1.dist-info/RECORD,,\n",
            hash(original),
            original.len()
        ),
    );
    write(
        &site,
        "bleach-6.3.0.dist-info/RECORD",
        format!(
            "bleach/_vendor/html5lib/utils.py,{},{}\n\
             bleach/_vendor/html5lib-1.1.dist-info/RECORD,{},{}\n\
             bleach-6.3.0.dist-info/RECORD,,\n",
            hash(patched),
            patched.len(),
            hash(
                &std::fs::read(site.join("bleach/_vendor/html5lib-1.1.dist-info/RECORD")).unwrap()
            ),
            std::fs::read(site.join("bleach/_vendor/html5lib-1.1.dist-info/RECORD"))
                .unwrap()
                .len(),
        ),
    );
    let before = snapshot(&venv);
    let out = run(fix_venv().arg("prepare").arg(&venv));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(snapshot(&venv), before, "nothing to change");
}
