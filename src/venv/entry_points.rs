//! `entry_points.txt`: the `[console_scripts]` and `[gui_scripts]` sections, parsed and
//! validated. The file comes from a wheel, so it is hostile input: a name must be a plain
//! file name and a reference `module.path:attr.path` made of Python identifiers, or the line
//! is refused (with the reason) and nothing is written for it.

use serde::Serialize;

/// Which section of `entry_points.txt` a script comes from. Both get the same script (as
/// uv writes them on Unix); the kind only names the section in the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptKind {
    /// `[console_scripts]`.
    ConsoleScripts,
    /// `[gui_scripts]`.
    GuiScripts,
}

impl ScriptKind {
    /// The section's name, without brackets.
    pub fn section(self) -> &'static str {
        match self {
            ScriptKind::ConsoleScripts => "console_scripts",
            ScriptKind::GuiScripts => "gui_scripts",
        }
    }
}

/// One script to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryPoint {
    /// The script's file name in `bin/`, already checked by [`check_name`]; `pip3.N` already
    /// renamed to the interpreter's minor.
    pub name: String,
    /// The dotted module path to import from.
    pub module: String,
    /// The attribute path, e.g. `main` or `cli.main`.
    pub attr: String,
    /// The section it was in.
    pub kind: ScriptKind,
    /// 1-based line in entry_points.txt.
    pub line: usize,
}

impl EntryPoint {
    /// What `from MODULE import NAME` imports: the first attribute segment.
    pub fn import_name(&self) -> &str {
        self.attr.split('.').next().unwrap_or(&self.attr)
    }
}

/// A line that was not turned into a script, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedLine {
    /// 1-based line in entry_points.txt.
    pub line: usize,
    /// The line as read, escaped for printing (control characters shown as `\u{..}`).
    pub text: String,
    /// Why it was refused, for people.
    pub reason: String,
}

/// What [`parse`] makes of one `entry_points.txt`. Each line of the two script sections that
/// is not blank or a comment is in exactly one list; other sections are skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The scripts to write, in file order; names are unique (a repeated name keeps the first).
    pub scripts: Vec<EntryPoint>,
    /// Lines of those sections that are not a valid script, in file order.
    pub refused: Vec<RefusedLine>,
}

/// The files uv's activator templates write into `bin/`.
pub const ACTIVATORS: &[&str] = &[
    "activate",
    "activate.bat",
    "activate.csh",
    "activate.fish",
    "activate.nu",
    "activate.ps1",
    "activate.xsh",
    "activate_this.py",
    "deactivate.bat",
    "pydoc.bat",
];

/// Names that would shadow the venv's interpreter links or activators.
fn reserved(name: &str) -> bool {
    let rest = |prefix: &str| name.strip_prefix(prefix);
    let versioned = |tail: &str| {
        tail.trim_end_matches(['t', 'w'])
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
    };
    ACTIVATORS.contains(&name)
        || ["python", "pypy", "graalpy"]
            .iter()
            .any(|p| rest(p).is_some_and(versioned))
}

/// A script name must be a plain file name that stays in `bin/`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty script name".into());
    }
    if name.contains('/') || name.contains('\\') {
        return Err("script name contains a path separator".into());
    }
    if name.contains("..") || name == "." {
        return Err("script name contains `..` or is `.`".into());
    }
    if name.chars().any(|c| c.is_control() || c == '\u{FFFD}') {
        return Err("script name contains a control character or invalid UTF-8".into());
    }
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Err("script name has surrounding whitespace".into());
    }
    // entry_points.txt is INI: such a name could not be written back as the same key.
    if name.contains('=') || name.starts_with(['#', ';', '[']) {
        return Err("script name contains `=` or starts with `#`, `;` or `[`".into());
    }
    if reserved(name) {
        return Err(
            "script name is reserved for the venv's interpreter links or activators".into(),
        );
    }
    Ok(())
}

/// An ASCII Python identifier (non-ASCII ones are refused too: no wheel needs them, and they
/// are where look-alike tricks live).
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// A dotted path of Python identifiers (`a.b.c`), e.g. a module name.
pub fn is_dotted(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_identifier)
}

/// Parses `module.path:attr.path [extras]`; extras are ignored, as uv ignores them.
pub fn parse_reference(value: &str) -> Result<(String, String), String> {
    let value = value.trim();
    if value.chars().any(char::is_control) {
        return Err("object reference contains a control character".into());
    }
    let object = match value.split_once('[') {
        Some((object, extras)) => {
            let extras = extras
                .trim_end()
                .strip_suffix(']')
                .ok_or("unterminated extras `[...]`")?;
            let ok = extras.split(',').all(|e| {
                let e = e.trim();
                !e.is_empty()
                    && e.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            });
            if !ok {
                return Err("extras are not a comma-separated list of names".into());
            }
            object.trim_end()
        }
        None => value,
    };
    let (module, attr) = object
        .split_once(':')
        .ok_or("object reference has no `:` (expected module.path:attr.path)")?;
    let (module, attr) = (module.trim(), attr.trim());
    if !is_dotted(module) {
        return Err(format!(
            "module {module:?} is not a dotted path of Python identifiers"
        ));
    }
    if !is_dotted(attr) {
        return Err(format!(
            "attribute {attr:?} is not a dotted path of Python identifiers"
        ));
    }
    Ok((module.to_string(), attr.to_string()))
}

/// The line with control characters (and invalid UTF-8, read as U+FFFD) shown as `\u{..}`.
fn escape(line: &str) -> String {
    line.chars()
        .map(|c| {
            if c.is_control() || c == '\u{FFFD}' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Parses entry_points.txt (given as bytes: invalid UTF-8 is refused line by line).
/// `python_minor` renames `pip3.N` to the interpreter's minor, as uv and pip do.
pub fn parse(bytes: &[u8], python_minor: u32) -> Parsed {
    let text = String::from_utf8_lossy(bytes);
    let mut parsed = Parsed::default();
    let mut section: Option<ScriptKind> = None;
    let mut seen = std::collections::BTreeSet::new();
    // Split on \n only: a lone \r stays in the line, where it is refused as a control char.
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            section = match trimmed[1..trimmed.len() - 1].trim() {
                "console_scripts" => Some(ScriptKind::ConsoleScripts),
                "gui_scripts" => Some(ScriptKind::GuiScripts),
                _ => None,
            };
            continue;
        }
        let Some(kind) = section else { continue };
        let refuse = |reason: String| RefusedLine {
            line: line_no,
            text: escape(line),
            reason,
        };
        let Some((name, value)) = line.split_once('=') else {
            parsed
                .refused
                .push(refuse("not a `name = module:attr` line".into()));
            continue;
        };
        let name = name.trim_matches([' ', '\t']);
        let checked = check_name(name).and_then(|()| parse_reference(value));
        let (module, attr) = match checked {
            Ok(ok) => ok,
            Err(reason) => {
                parsed.refused.push(refuse(reason));
                continue;
            }
        };
        let mut name = name.to_string();
        if kind == ScriptKind::ConsoleScripts {
            if let Some(minor) = name.strip_prefix("pip3.") {
                if minor.parse::<u8>().is_ok() {
                    name = format!("pip3.{python_minor}");
                }
            }
        }
        if !seen.insert(name.clone()) {
            parsed.refused.push(refuse(format!(
                "script {name:?} is defined twice; keeping the first"
            )));
            continue;
        }
        parsed.scripts.push(EntryPoint {
            name,
            module,
            attr,
            kind,
            line: line_no,
        });
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_sections_and_ignores_extras() {
        let p = parse(
            b"[console_scripts]\nblack = black:patched_main\nblackd = blackd:patched_main [d]\n\n\
              [gui_scripts]\nviewer = pkg.gui:App.run\n\n[other]\nx = y:z\n",
            11,
        );
        assert!(p.refused.is_empty(), "{:?}", p.refused);
        let names: Vec<_> = p.scripts.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["black", "blackd", "viewer"]);
        assert_eq!(p.scripts[2].kind, ScriptKind::GuiScripts);
        assert_eq!(p.scripts[2].import_name(), "App");
        assert_eq!(p.scripts[1].line, 3);
    }

    #[test]
    fn renames_versioned_pip() {
        let p = parse(
            b"[console_scripts]\npip3 = pip:main\npip3.9 = pip:main\n",
            11,
        );
        let names: Vec<_> = p.scripts.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["pip3", "pip3.11"]);
    }

    #[test]
    fn refuses_entry_point_with_slash_or_dots() {
        for name in ["../../x", "/abs", "a/b", "..", ".", "a..b", "a\\b"] {
            let p = parse(format!("[console_scripts]\n{name} = m:f\n").as_bytes(), 11);
            assert!(p.scripts.is_empty(), "{name}");
            assert_eq!(p.refused.len(), 1, "{name}");
        }
    }

    #[test]
    fn refuses_control_characters_in_names() {
        let p = parse(
            b"[console_scripts]\nev\x1bil = m:f\nx\ry = m:f\n\xff = m:f\n",
            11,
        );
        assert!(p.scripts.is_empty(), "{:?}", p.scripts);
        assert_eq!(p.refused.len(), 3);
        assert!(p.refused[0].text.contains("\\u{1b}"));
    }

    #[test]
    fn refuses_code_in_the_reference() {
        for value in [
            "os:system('x')",
            "a; import os",
            "a:b; import os",
            "a:b()",
            "a :b c",
            "1a:b",
            "a:",
            ":b",
            "a",
            "a:b [x",
            "a:b [x;y]",
            "a.:b",
            "a:b\u{0}",
        ] {
            let p = parse(format!("[gui_scripts]\nok = {value}\n").as_bytes(), 11);
            assert!(p.scripts.is_empty(), "{value}");
            assert_eq!(p.refused.len(), 1, "{value}");
        }
    }

    #[test]
    fn refuses_reserved_names() {
        for name in [
            "python",
            "python3",
            "python3.11",
            "pythonw",
            "pypy3",
            "activate.fish",
        ] {
            let p = parse(format!("[console_scripts]\n{name} = m:f\n").as_bytes(), 11);
            assert!(p.scripts.is_empty(), "{name}");
        }
        for name in ["python-foo", "activate-global-python-argcomplete"] {
            let p = parse(format!("[console_scripts]\n{name} = m:f\n").as_bytes(), 11);
            assert!(p.refused.is_empty(), "{name}");
        }
    }
}
