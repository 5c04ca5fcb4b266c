//! Fixtures and oracles for the ELF tests: gcc builds small libraries and executables at test
//! time; readelf, patchelf (0.14, used only as an external oracle) and python3.11's ctypes
//! judge the results.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use fixup_hooks::elf::{plan_edit, write_edit, ElfChange, ElfEdit, ElfInfo, ElfRefusal};

/// The stripped store path strip-store-refs leaves behind, and a real one of equal length.
pub const STORE_E: &str = "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x/lib";
pub const STORE_REAL: &str = "/nix/store/0c9d3k2l8x7v1mq5w4r6t2y9u3i8o7p1-x/lib";
pub const STORE_LONG: &str =
    "/nix/store/0c9d3k2l8x7v1mq5w4r6t2y9u3i8o7p1-some-much-longer-name-1.2.3/lib";

pub const LIB_C: &str =
    "int fixture_answer(void) { return 42; }\nint fixture_other(int x) { return x + 1; }\n";
pub const EXE_C: &str = "#include <stdio.h>\nint fixture_answer(void);\nint main(void) { printf(\"%d\\n\", fixture_answer()); return 0; }\n";

/// A short temporary directory: short paths let "shorter than the old string" tests work.
pub fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("e")
        .tempdir_in("/tmp")
        .unwrap()
}

pub fn gcc<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(args: I) {
    let out = Command::new("gcc").args(args).output().expect("gcc runs");
    assert!(
        out.status.success(),
        "gcc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `dir/name` as a shared library exporting fixture_answer, linked with `extra` flags.
pub fn build_lib(dir: &Path, name: &str, extra: &[&[u8]]) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, LIB_C).unwrap();
    let out = dir.join(name);
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("-shared"),
        OsStr::new("-fPIC"),
        OsStr::new("-o"),
        out.as_os_str(),
        src.as_os_str(),
    ];
    args.extend(extra.iter().map(|a| OsStr::from_bytes(a)));
    gcc(args);
    out
}

/// `dir/name`: an executable calling fixture_answer from `-L lib_dir -lfixture`.
pub fn build_exe(dir: &Path, name: &str, lib_dir: &Path, extra: &[&[u8]]) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, EXE_C).unwrap();
    let out = dir.join(name);
    let l = format!("-L{}", lib_dir.display());
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("-o"),
        out.as_os_str(),
        src.as_os_str(),
        OsStr::new(&l),
        OsStr::new("-lfixture"),
    ];
    args.extend(extra.iter().map(|a| OsStr::from_bytes(a)));
    gcc(args);
    out
}

/// A gcc-built fixture spelled as its link line reads: `Gcc::lib(dir)` is
/// `dir/libfixture.so` ([`LIB_C`]), `Gcc::exe(dir)` is `dir/exe` ([`EXE_C`]) linked against
/// `dir/libfixture.so`; the link flags follow in the order the methods are called.
/// `Gcc::lib(d).runpath(STORE_E).build()` is `build_lib(d, "libfixture.so",
/// &[&rpath_flag(STORE_E), b"-Wl,--enable-new-dtags"])`.
pub struct Gcc {
    dir: PathBuf,
    exe: bool,
    flags: Vec<Vec<u8>>,
}

impl Gcc {
    /// `dir/libfixture.so`.
    pub fn lib(dir: &Path) -> Gcc {
        Gcc {
            dir: dir.to_path_buf(),
            exe: false,
            flags: Vec::new(),
        }
    }

    /// `dir/exe`, needing `dir/libfixture.so` (build that first).
    pub fn exe(dir: &Path) -> Gcc {
        Gcc {
            exe: true,
            ..Gcc::lib(dir)
        }
    }

    /// [`Gcc::exe`], after building the `dir/libfixture.so` it needs.
    pub fn exe_with_lib(dir: &Path) -> Gcc {
        Gcc::lib(dir).build();
        Gcc::exe(dir)
    }

    /// A RUNPATH (`-rpath` with `--enable-new-dtags`).
    pub fn runpath(self, path: &str) -> Gcc {
        self.flag(&rpath_flag(path)).flag(b"-Wl,--enable-new-dtags")
    }

    /// An RPATH (`-rpath` with `--disable-new-dtags`).
    pub fn rpath(self, path: &str) -> Gcc {
        self.flag(&rpath_flag(path))
            .flag(b"-Wl,--disable-new-dtags")
    }

    /// `-rpath` with the linker's default tag.
    pub fn search_path(self, path: &str) -> Gcc {
        self.flag(&rpath_flag(path))
    }

    /// `-pie`: a position-independent executable (ELF type DYN with PT_INTERP).
    pub fn pie(self) -> Gcc {
        self.flag(b"-pie")
    }

    /// `-no-pie`: ELF type EXEC.
    pub fn no_pie(self) -> Gcc {
        self.flag(b"-no-pie")
    }

    /// Any other gcc argument.
    pub fn flag(mut self, flag: &[u8]) -> Gcc {
        self.flags.push(flag.to_vec());
        self
    }

    /// Compiles and links it; returns its path.
    pub fn build(self) -> PathBuf {
        let flags: Vec<&[u8]> = self.flags.iter().map(Vec::as_slice).collect();
        if self.exe {
            build_exe(&self.dir, "exe", &self.dir, &flags)
        } else {
            build_lib(&self.dir, "libfixture.so", &flags)
        }
    }
}

pub fn rpath_flag(p: &str) -> Vec<u8> {
    format!("-Wl,-rpath,{p}").into_bytes()
}

pub fn info(path: &Path) -> ElfInfo {
    ElfInfo::parse(&std::fs::read(path).unwrap())
        .unwrap()
        .expect("is ELF")
}

pub fn plan_file(path: &Path, change: &ElfChange) -> Result<Option<ElfEdit>, ElfRefusal> {
    let bytes = std::fs::read(path).unwrap();
    plan_edit(&ElfInfo::parse(&bytes).unwrap().unwrap(), &bytes, change)
}

/// Plan and apply; panics on refusal or no-op, and checks a second plan is a no-op.
pub fn patch_file(path: &Path, change: &ElfChange) -> ElfEdit {
    let bytes = std::fs::read(path).unwrap();
    let edit = plan_file(path, change)
        .expect("planned")
        .expect("something to change");
    write_edit(path, &bytes, &edit).expect("applied");
    assert_eq!(
        plan_file(path, change),
        Ok(None),
        "second plan must be a no-op"
    );
    edit
}

pub fn runpath(p: &str) -> ElfChange {
    ElfChange {
        runpath: Some(p.as_bytes().to_vec()),
        interpreter: None,
    }
}

pub fn interpreter(p: &str) -> ElfChange {
    ElfChange {
        runpath: None,
        interpreter: Some(p.as_bytes().to_vec()),
    }
}

/// readelf's complaints (it prints them as "readelf: Warning: ..." / "Error: ...").
pub fn readelf_complaints(path: &Path, flags: &[&str]) -> String {
    let out = Command::new("readelf")
        .args(flags)
        .arg(path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter(|l| l.contains("Warning") || l.contains("Error"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// No readelf complaint on the result that the original did not already have.
pub fn assert_readelf_clean(path: &Path) {
    let c = readelf_complaints(path, &["-W", "-d", "-l", "-S"]);
    assert!(
        c.is_empty(),
        "readelf -W -d -l -S complains about {}:\n{c}",
        path.display()
    );
}

pub fn patchelf(path: &Path, flag: &str) -> String {
    let out = Command::new("patchelf")
        .arg(flag)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "patchelf {flag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// dlopen with RTLD_NOW and look up `symbol`, in a fresh python3.11.
pub fn dlopen(path: &Path, symbol: &str) -> Result<(), String> {
    let code =
        "import ctypes,os,sys; l=ctypes.CDLL(sys.argv[1], os.RTLD_NOW); getattr(l, sys.argv[2])";
    let out = Command::new("python3.11")
        .args(["-c", code])
        .arg(path)
        .arg(symbol)
        .output()
        .unwrap();
    out.status
        .success()
        .then_some(())
        .ok_or_else(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

pub fn run(path: &Path) -> Result<String, String> {
    let out = Command::new(path).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "{:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `strip -g` into a copy; None when strip refuses (it then writes no output).
pub fn strip_copy(path: &Path) -> Option<PathBuf> {
    let out = path.with_extension("stripped");
    let o = Command::new("strip")
        .arg("-g")
        .arg("-o")
        .arg(&out)
        .arg(path)
        .output()
        .unwrap();
    if o.status.success() {
        return Some(out);
    }
    assert!(!out.exists(), "a failed strip left output behind");
    None
}

/// Test-only surgery: turn the first program header of `p_type` into PT_NULL, to get a file
/// with a free slot (patchelf outputs have them; gcc outputs don't). PT_NOTE is harmless to drop.
pub fn null_out_phdr(path: &Path, p_type: u32) {
    let mut b = std::fs::read(path).unwrap();
    let i = info(path);
    let idx = i
        .program_headers
        .iter()
        .position(|p| p.p_type == p_type)
        .expect("phdr present");
    let at = i.phoff as usize + idx * 56; // 64-bit little-endian fixtures only
    b[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
    std::fs::write(path, b).unwrap();
}

/// Test-only surgery: fill every spare DT_NULL slot (all but the last) with DT_DEBUG 0 — what
/// an LLD-linked library without `.dynamic` slack looks like to the writer.
pub fn fill_spare_dynamic_slots(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let d = info(path).dynamic.unwrap();
    for k in 0..d.spare_null_slots {
        let at = d.entry_offset(d.entries.len() + k) as usize;
        b[at..at + 8].copy_from_slice(&21u64.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

/// Test-only surgery: drop the section header table (as `sstrip` does) so the writer must size
/// `.dynsym` from the hash tables.
pub fn drop_section_headers(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    b[0x28..0x30].fill(0); // e_shoff
    b[0x3c..0x40].fill(0); // e_shnum, e_shstrndx
    std::fs::write(path, b).unwrap();
}

/// The ld.so this machine's executables name.
pub fn system_interpreter() -> String {
    String::from_utf8(info(Path::new("/bin/ls")).interpreter.unwrap().path).unwrap()
}
