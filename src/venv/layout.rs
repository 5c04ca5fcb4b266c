//! Where things are in a venv, and what the interpreter it is restored for expects.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::{Result, VenvError};

/// What `restore` needs to know about PYTHON, asked from PYTHON itself (run once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PythonInfo {
    /// The interpreter as given, made absolute but not resolved (as uv links it).
    pub executable: PathBuf,
    /// `platform.python_version()`, e.g. `3.11.2`: uv's `version_info`.
    pub version: String,
    /// `sys.version_info.major`: names the `pythonN` link.
    pub major: u32,
    /// `sys.version_info.minor`: names the `pythonN.M` link; `pip3.N` scripts are renamed to it.
    pub minor: u32,
    /// Free-threaded build (`t` in `sys.abiflags`).
    pub threaded: bool,
    /// `CPython`, `PyPy`, `GraalPy`: uv's `implementation`.
    pub implementation: String,
    /// `sys.prefix` of PYTHON run on its own.
    pub prefix: String,
    /// site-packages relative to a venv root, from sysconfig's venv scheme,
    /// e.g. `lib/python3.11/site-packages`.
    pub site_packages: PathBuf,
}

const PROBE: &str = r#"
import platform, sys, sysconfig
scheme = "venv" if "venv" in sysconfig.get_scheme_names() else "posix_prefix"
base = "/@fix-venv@"
v = dict(base=base, platbase=base, installed_base=base, installed_platbase=base)
purelib = sysconfig.get_path("purelib", scheme, vars=v)
print(platform.python_version())
print("%d.%d" % sys.version_info[:2])
print("t" if "t" in getattr(sys, "abiflags", "") else "")
print(sys.implementation.name)
print(sys.prefix)
print(purelib[len(base) + 1:])
"#;

impl PythonInfo {
    /// Runs `python` once to learn its version, prefix and site-packages layout.
    pub fn probe(python: &Path) -> Result<PythonInfo> {
        let executable = super::fsx::absolute(python)?;
        let fail = |message: String| VenvError::Python {
            path: executable.clone(),
            message,
        };
        let out = Command::new(&executable)
            .args(["-I", "-c", PROBE])
            .env_remove("PYTHONHOME")
            .env_remove("PYTHONPATH")
            .output()
            .map_err(|e| fail(format!("cannot run: {e}")))?;
        if !out.status.success() {
            return Err(fail(format!(
                "exited with {}:\n{}",
                out.status,
                tail(&String::from_utf8_lossy(&out.stderr), 5)
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        let [version, minor, abi, implementation, prefix, site] = lines[..] else {
            return Err(fail(format!("unexpected answer: {text:?}")));
        };
        let (major, minor) = minor
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .ok_or_else(|| fail(format!("unexpected version {minor:?}")))?;
        let site_packages = PathBuf::from(site);
        if site.is_empty()
            || !site_packages
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return Err(fail(format!("unexpected site-packages path {site:?}")));
        }
        Ok(PythonInfo {
            version: version.to_string(),
            major,
            minor,
            threaded: abi == "t",
            implementation: match implementation {
                "cpython" => "CPython".to_string(),
                "pypy" => "PyPy".to_string(),
                "graalpy" => "GraalPy".to_string(),
                other => other.to_string(),
            },
            prefix: prefix.to_string(),
            site_packages,
            executable,
        })
    }

    /// `python3.11` or `python3.13t`: the versioned link uv makes next to `python`.
    pub fn versioned_name(&self) -> String {
        format!(
            "python{}.{}{}",
            self.major,
            self.minor,
            if self.threaded { "t" } else { "" }
        )
    }

    /// The directory `home` names.
    pub fn home(&self) -> PathBuf {
        self.executable
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"))
    }
}

/// The last `n` non-empty lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A venv whose site-packages matches the interpreter.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The venv: absolute and normalised, not resolved ([`absolute`](super::fsx::absolute)).
    pub root: PathBuf,
    /// `root/bin`, where scripts, activators and the interpreter links go.
    pub bin: PathBuf,
    /// Relative to `root`.
    pub site_packages_rel: PathBuf,
    /// `root` joined with `site_packages_rel`; it exists.
    pub site_packages: PathBuf,
}

impl Layout {
    /// Checks that `root` has the site-packages directory `python` expects.
    pub fn for_python(root: &Path, python: &PythonInfo) -> Result<Layout> {
        if !root.is_dir() {
            return Err(VenvError::NotAVenv {
                path: root.to_path_buf(),
                reason: "not a directory".into(),
            });
        }
        let site_packages = root.join(&python.site_packages);
        if !site_packages.is_dir() {
            let found = site_packages_dirs(root);
            if found.is_empty() {
                return Err(VenvError::NotAVenv {
                    path: root.to_path_buf(),
                    reason: format!(
                        "no {} (nor any lib/*/site-packages)",
                        python.site_packages.display()
                    ),
                });
            }
            return Err(VenvError::VersionMismatch {
                path: root.to_path_buf(),
                found: found
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                expected: python.site_packages.display().to_string(),
                wanted: python.version.clone(),
                python: python.executable.clone(),
            });
        }
        Ok(Layout {
            root: root.to_path_buf(),
            bin: root.join("bin"),
            site_packages_rel: python.site_packages.clone(),
            site_packages,
        })
    }

    /// The path of a `bin/` file as RECORD writes it: relative to site-packages.
    pub fn record_path_of_bin(&self, name: &str) -> String {
        let ups = self.site_packages_rel.components().count();
        format!("{}bin/{name}", "../".repeat(ups))
    }

    /// Every `*.dist-info` directory in site-packages, sorted by name.
    pub fn dist_infos(&self) -> Result<Vec<PathBuf>> {
        let mut all = Vec::new();
        let entries = std::fs::read_dir(&self.site_packages)
            .map_err(|e| VenvError::io(&self.site_packages, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| VenvError::io(&self.site_packages, e))?;
            let name = entry.file_name();
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir && name.to_string_lossy().ends_with(".dist-info") {
                all.push(entry.path());
            }
        }
        all.sort();
        Ok(all)
    }
}

/// Every `lib*/NAME/site-packages` under `root`, relative, sorted (symlinked lib64 skipped).
pub fn site_packages_dirs(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(libs) = std::fs::read_dir(root) else {
        return found;
    };
    for lib in libs.flatten() {
        let lib_name = lib.file_name();
        let is_dir = lib.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if !is_dir || !lib_name.to_string_lossy().starts_with("lib") {
            continue;
        }
        let Ok(versions) = std::fs::read_dir(lib.path()) else {
            continue;
        };
        for version in versions.flatten() {
            if version.path().join("site-packages").is_dir() {
                found.push(
                    PathBuf::from(&lib_name)
                        .join(version.file_name())
                        .join("site-packages"),
                );
            }
        }
    }
    found.sort();
    found
}

/// Whether `dir` is an installed distribution's `*.dist-info`: directly in a `site-packages`
/// directory. A dist-info elsewhere belongs to a package that vendors another (bleach ships
/// `bleach/_vendor/html5lib-1.1.dist-info`, whose RECORD lists html5lib's files as they were
/// before bleach patched them): it installed nothing, and its RECORD is data.
pub fn is_installed_dist_info(dir: &Path) -> bool {
    let named = |p: &Path, pred: &dyn Fn(&str) -> bool| {
        p.file_name().and_then(|n| n.to_str()).is_some_and(pred)
    };
    named(dir, &|n| n.ends_with(".dist-info"))
        && dir
            .parent()
            .is_some_and(|site| named(site, &|n| n == "site-packages"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_path_climbs_out_of_site_packages() {
        let layout = Layout {
            root: "/v".into(),
            bin: "/v/bin".into(),
            site_packages_rel: "lib/python3.11/site-packages".into(),
            site_packages: "/v/lib/python3.11/site-packages".into(),
        };
        assert_eq!(layout.record_path_of_bin("black"), "../../../bin/black");
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\n\nc\n", 2), "b\nc");
    }
}
