//! `--install-source DIR`: installs a pure-Python workspace member that
//! `uv sync --no-install-workspace` left out: its import package (flat or `src/` layout) and
//! a `NAME-VERSION.dist-info` whose entry points come from `pyproject.toml`, so its scripts
//! are generated like any other's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::entry_points::{check_name, parse_reference};
use super::error::{Result, VenvError};

/// What installing one source tree puts into site-packages (RECORD aside, which is written
/// once the scripts are known).
#[derive(Clone, Debug)]
pub struct SourceDist {
    /// `[project] name` as written (not normalised); only ASCII letters, digits and `-_.+!`.
    pub name: String,
    /// `[project] version` (a static one; dynamic versions are refused), same characters.
    pub version: String,
    /// `site-packages/NAME-VERSION.dist-info`.
    pub dist_info: PathBuf,
    /// Destination (absolute, in site-packages) → contents, sorted.
    pub files: BTreeMap<PathBuf, Vec<u8>>,
    /// The `entry_points.txt` written (also in `files`); empty when there are no scripts.
    pub entry_points: Vec<u8>,
}

/// PEP 503 normalisation, with `_` as wheel file names use: `My.Pkg-x` → `my_pkg_x`.
pub fn wheel_name(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('_');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn table_strings(
    pyproject: &Path,
    project: &toml::Table,
    key: &str,
) -> Result<BTreeMap<String, String>> {
    let Some(value) = project.get(key) else {
        return Ok(BTreeMap::new());
    };
    let table = value
        .as_table()
        .ok_or_else(|| VenvError::invalid(pyproject, format!("[project.{key}] is not a table")))?;
    let mut out = BTreeMap::new();
    for (name, value) in table {
        let value = value.as_str().ok_or_else(|| {
            VenvError::invalid(
                pyproject,
                format!("[project.{key}] {name:?} is not a string"),
            )
        })?;
        check_name(name)
            .and_then(|()| parse_reference(value))
            .map_err(|why| {
                VenvError::invalid(pyproject, format!("[project.{key}] {name:?}: {why}"))
            })?;
        out.insert(name.clone(), value.trim().to_string());
    }
    Ok(out)
}

fn read_tree(src: &Path, dest: &Path, files: &mut BTreeMap<PathBuf, Vec<u8>>) -> Result<()> {
    for entry in walkdir::WalkDir::new(src)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.file_name() != "__pycache__")
    {
        let entry = entry.map_err(|e| {
            let path = e.path().map(Path::to_path_buf).unwrap_or_default();
            VenvError::io(
                path,
                e.into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("loop")),
            )
        })?;
        let name = entry.file_name().to_string_lossy();
        if entry.file_type().is_dir() || name.ends_with(".pyc") {
            continue;
        }
        if !entry.file_type().is_file() {
            return Err(VenvError::invalid(
                entry.path(),
                "not a regular file (symlinks are not installed from sources)",
            ));
        }
        let rel = entry.path().strip_prefix(src).unwrap_or(entry.path());
        let contents = std::fs::read(entry.path()).map_err(|e| VenvError::io(entry.path(), e))?;
        files.insert(dest.join(rel), contents);
    }
    Ok(())
}

/// Reads `dir/pyproject.toml` and the import package, for installing into `site_packages`.
pub fn read(dir: &Path, site_packages: &Path) -> Result<SourceDist> {
    let pyproject = dir.join("pyproject.toml");
    let text = std::fs::read_to_string(&pyproject).map_err(|e| VenvError::io(&pyproject, e))?;
    let doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| VenvError::invalid(&pyproject, e.message().to_string()))?;
    let project = doc
        .get("project")
        .and_then(|p| p.as_table())
        .ok_or_else(|| VenvError::invalid(&pyproject, "no [project] table"))?;
    let field = |key: &str| {
        project.get(key).and_then(|v| v.as_str()).ok_or_else(|| {
            VenvError::invalid(
                &pyproject,
                format!(
                    "[project] {key} is missing or not a string (a dynamic {key} is not supported)"
                ),
            )
        })
    };
    let name = field("name")?.to_string();
    let version = field("version")?.to_string();
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.+!".contains(c))
    };
    if !plain(&name) || !plain(&version) {
        return Err(VenvError::invalid(
            &pyproject,
            "name or version has unexpected characters",
        ));
    }
    let scripts = table_strings(&pyproject, project, "scripts")?;
    let gui_scripts = table_strings(&pyproject, project, "gui-scripts")?;

    let backend = doc
        .get("tool")
        .and_then(|t| t.get("uv"))
        .and_then(|t| t.get("build-backend"));
    let module = backend
        .and_then(|b| b.get("module-name"))
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| wheel_name(&name));
    if !super::entry_points::is_identifier(&module) {
        return Err(VenvError::invalid(
            &pyproject,
            format!("module name {module:?} is not an identifier"),
        ));
    }
    let mut files = BTreeMap::new();
    let candidates = [
        dir.join("src").join(&module),
        dir.join(&module),
        dir.join("src").join(format!("{module}.py")),
        dir.join(format!("{module}.py")),
    ];
    let found = candidates
        .iter()
        .find(|c| std::fs::symlink_metadata(c).is_ok_and(|m| m.is_dir() || m.is_file()));
    match found {
        Some(src) if src.is_dir() => read_tree(src, &site_packages.join(&module), &mut files)?,
        Some(src) => {
            let contents = std::fs::read(src).map_err(|e| VenvError::io(src, e))?;
            files.insert(site_packages.join(format!("{module}.py")), contents);
        }
        None => {
            return Err(VenvError::invalid(
                dir,
                format!("no import package {module} (looked in src/{module}, {module}, src/{module}.py, {module}.py)"),
            ))
        }
    }

    let dist_info = site_packages.join(format!("{}-{version}.dist-info", wheel_name(&name)));
    let metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    files.insert(dist_info.join("METADATA"), metadata.into_bytes());
    files.insert(dist_info.join("INSTALLER"), b"fix-venv\n".to_vec());
    let mut entry_points = String::new();
    for (section, table) in [("console_scripts", &scripts), ("gui_scripts", &gui_scripts)] {
        if table.is_empty() {
            continue;
        }
        if !entry_points.is_empty() {
            entry_points.push('\n');
        }
        entry_points.push_str(&format!("[{section}]\n"));
        for (k, v) in table {
            entry_points.push_str(&format!("{k} = {v}\n"));
        }
    }
    if !entry_points.is_empty() {
        files.insert(
            dist_info.join("entry_points.txt"),
            entry_points.clone().into_bytes(),
        );
    }
    Ok(SourceDist {
        name,
        version,
        dist_info,
        files,
        entry_points: entry_points.into_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_wheel_names() {
        assert_eq!(wheel_name("My.Pkg--x"), "my_pkg_x");
        assert_eq!(wheel_name("fixture-tool"), "fixture_tool");
    }

    #[test]
    fn reads_a_src_layout_project() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("proj");
        std::fs::create_dir_all(src.join("src/my_app/__pycache__")).unwrap();
        std::fs::write(src.join("src/my_app/__init__.py"), "").unwrap();
        std::fs::write(src.join("src/my_app/__pycache__/x.pyc"), "").unwrap();
        std::fs::write(
            src.join("pyproject.toml"),
            "[project]\nname = \"My-App\"\nversion = \"0.1\"\n\
             [project.scripts]\nmy-app = \"my_app:main\"\n\
             [project.gui-scripts]\nmy-app-gui = \"my_app.gui:run\"\n",
        )
        .unwrap();
        let site = dir.path().join("site");
        let dist = read(&src, &site).unwrap();
        let names: Vec<_> = dist
            .files
            .keys()
            .map(|p| p.strip_prefix(&site).unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "my_app/__init__.py",
                "my_app-0.1.dist-info/INSTALLER",
                "my_app-0.1.dist-info/METADATA",
                "my_app-0.1.dist-info/entry_points.txt",
            ]
        );
        assert_eq!(
            String::from_utf8(dist.entry_points).unwrap(),
            "[console_scripts]\nmy-app = my_app:main\n\n[gui_scripts]\nmy-app-gui = my_app.gui:run\n"
        );
    }

    #[test]
    fn refuses_hostile_scripts_in_pyproject() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/__init__.py"), "").unwrap();
        std::fs::write(
            dir.path().join("pyproject.toml"),
            "[project]\nname = \"a\"\nversion = \"1\"\n[project.scripts]\n\"../x\" = \"a:main\"\n",
        )
        .unwrap();
        assert!(read(dir.path(), Path::new("/site")).is_err());
    }
}
