//! `pyvenv.cfg`, read and written the way uv does: `key = value` lines, split at the first
//! `=`, in a fixed order. Keys are updated in place, so the keys uv wrote keep their order.

/// uv's order (`write_cfg`); a key missing from the file is inserted after the last key
/// that comes before it here.
const UV_ORDER: &[&str] = &[
    "home",
    "implementation",
    "uv",
    "version_info",
    "include-system-site-packages",
    "relocatable",
    "seed",
    "prompt",
];

#[derive(Clone, Debug, PartialEq, Eq)]
enum Line {
    Key(String, String),
    /// A comment, blank or malformed line, kept as it was.
    Other(String),
}

/// A `pyvenv.cfg`, line by line: comments, blank and malformed lines survive a round trip.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PyVenvCfg {
    lines: Vec<Line>,
}

impl PyVenvCfg {
    /// Never fails: a line that is not `key = value` is kept as it is. Keys and values are
    /// trimmed.
    pub fn parse(text: &str) -> PyVenvCfg {
        let lines = text
            .lines()
            .map(|line| match line.split_once('=') {
                Some((k, v)) if !line.trim_start().starts_with('#') && !k.trim().is_empty() => {
                    Line::Key(k.trim().to_string(), v.trim().to_string())
                }
                _ => Line::Other(line.to_string()),
            })
            .collect();
        PyVenvCfg { lines }
    }

    /// The value of the first line with `key`, trimmed; None when no line has it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.lines.iter().find_map(|l| match l {
            Line::Key(k, v) if k == key => Some(v.as_str()),
            _ => None,
        })
    }

    /// Sets `key`, in place when present, else at uv's position for it (or at the end).
    pub fn set(&mut self, key: &str, value: &str) {
        for line in &mut self.lines {
            if let Line::Key(k, v) = line {
                if k == key {
                    *v = value.to_string();
                    return;
                }
            }
        }
        let rank = |k: &str| UV_ORDER.iter().position(|o| *o == k);
        let at = match rank(key) {
            Some(mine) => self
                .lines
                .iter()
                .rposition(|l| matches!(l, Line::Key(k, _) if rank(k).is_some_and(|r| r < mine)))
                .map(|i| i + 1)
                .unwrap_or(0),
            None => self.lines.len(),
        };
        self.lines
            .insert(at, Line::Key(key.to_string(), value.to_string()));
    }

    /// The file's text: keys as `key = value` (uv's spacing), other lines as read, each ending
    /// in `\n`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            match line {
                Line::Key(k, v) => {
                    out.push_str(k);
                    out.push_str(" = ");
                    out.push_str(v);
                }
                Line::Other(raw) => out.push_str(raw),
            }
            out.push('\n');
        }
        out
    }

    /// The file says `relocatable = true` (`uv venv --relocatable`): scripts then find `python`
    /// next to themselves instead of naming it by absolute path.
    pub fn is_relocatable(&self) -> bool {
        self.get("relocatable") == Some("true")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UV: &str = "home = /nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-python3-3.11.7/bin\n\
                      implementation = CPython\nuv = 0.13.9\nversion_info = 3.11.7\n\
                      include-system-site-packages = false\nprompt = proj\n";

    #[test]
    fn updates_keys_in_place_keeping_order() {
        let mut cfg = PyVenvCfg::parse(UV);
        cfg.set("home", "/usr/bin");
        cfg.set("version_info", "3.11.2");
        assert_eq!(
            cfg.render(),
            "home = /usr/bin\nimplementation = CPython\nuv = 0.13.9\nversion_info = 3.11.2\n\
             include-system-site-packages = false\nprompt = proj\n"
        );
    }

    #[test]
    fn inserts_missing_keys_at_uvs_position() {
        let mut cfg = PyVenvCfg::parse("implementation = CPython\nprompt = x\n");
        cfg.set("include-system-site-packages", "false");
        cfg.set("home", "/usr/bin");
        cfg.set("version_info", "3.11.2");
        assert_eq!(
            cfg.render(),
            "home = /usr/bin\nimplementation = CPython\nversion_info = 3.11.2\n\
             include-system-site-packages = false\nprompt = x\n"
        );
    }

    #[test]
    fn splits_at_the_first_equals_sign() {
        let cfg = PyVenvCfg::parse("prompt = a=b\n");
        assert_eq!(cfg.get("prompt"), Some("a=b"));
    }
}
