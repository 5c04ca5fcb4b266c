//! A dist-info's `RECORD`: `path,sha256=<urlsafe base64, no padding>,size` lines. Lines are
//! kept as they were except those whose file changed (new hash and size) or went away.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// `sha256=...` as RECORD writes it.
pub fn hash(bytes: &[u8]) -> String {
    format!("sha256={}", URL_SAFE_NO_PAD.encode(Sha256::digest(bytes)))
}

/// The first CSV field (the path), unquoted when it is quoted.
pub fn line_path(line: &str) -> String {
    if let Some(rest) = line.strip_prefix('"') {
        let mut path = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    path.push('"');
                } else {
                    break;
                }
            } else {
                path.push(c);
            }
        }
        path
    } else {
        line.split(',').next().unwrap_or_default().to_string()
    }
}

fn quote(path: &str) -> String {
    if path.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", path.replace('"', "\"\""))
    } else {
        path.to_string()
    }
}

/// The fields after the path (`hash,size`), `""` when the line has none.
pub fn line_rest(line: &str) -> &str {
    let end = if let Some(rest) = line.strip_prefix('"') {
        // Skip the quoted field: `""` is an escaped quote.
        let bytes = rest.as_bytes();
        let mut i = 0;
        loop {
            match bytes.get(i) {
                None => return "",
                Some(b'"') if bytes.get(i + 1) == Some(&b'"') => i += 2,
                Some(b'"') => break 1 + i + 1,
                Some(_) => i += 1,
            }
        }
    } else {
        match line.find(',') {
            Some(i) => i,
            None => return "",
        }
    };
    line[end..].strip_prefix(',').unwrap_or("")
}

/// The hash field (`sha256=...`), `""` when blank or missing.
pub fn line_hash(line: &str) -> &str {
    line_rest(line).split(',').next().unwrap_or_default()
}

/// A RECORD line for `path` with no hash and size, as RECORD's own line is written.
pub fn blank_line(path: &str) -> String {
    format!("{},,", quote(path))
}

/// A RECORD line for `path` with these contents.
pub fn line_for(path: &str, contents: &[u8]) -> String {
    format!("{},{},{}", quote(path), hash(contents), contents.len())
}

/// What to do to a RECORD.
#[derive(Clone, Debug, Default)]
pub struct RecordEdit {
    /// path → new contents: the line gets the new hash and size, or is added (at the end,
    /// sorted) when missing.
    pub set: BTreeMap<String, Vec<u8>>,
    /// paths whose lines are dropped.
    pub drop: std::collections::BTreeSet<String>,
    /// paths whose lines lose their hash and size (`path,,`); `set` wins over it.
    pub blank: std::collections::BTreeSet<String>,
}

impl RecordEdit {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.drop.is_empty() && self.blank.is_empty()
    }
}

/// Applies `edit` to RECORD text; lines not named keep their bytes.
pub fn apply(text: &str, edit: &RecordEdit) -> String {
    let mut out = String::with_capacity(text.len());
    let mut done = std::collections::BTreeSet::new();
    for line in text.lines() {
        let path = line_path(line);
        if edit.drop.contains(&path) {
            continue;
        }
        match edit.set.get(&path) {
            Some(contents) => {
                out.push_str(&line_for(&path, contents));
                done.insert(path);
            }
            None if edit.blank.contains(&path) => out.push_str(&blank_line(&path)),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    for (path, contents) in &edit.set {
        if !done.contains(path) {
            out.push_str(&line_for(path, contents));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_like_pip_and_uv() {
        // INSTALLER "uv", from a real uv RECORD.
        assert_eq!(
            hash(b"uv"),
            "sha256=5hhM4Q4mYTT9z6QB6PGpUAW81PGNFrYrdXMj4oM_6ak"
        );
    }

    #[test]
    fn updates_changed_lines_and_keeps_the_rest() {
        let text = "../../../bin/x,sha256=old,3\n\"a,b.py\",sha256=k,1\nx.dist-info/RECORD,,\n\
                    x.dist-info/uv_cache.json,sha256=t,9\n";
        let mut edit = RecordEdit::default();
        edit.set.insert("../../../bin/x".into(), b"uv".to_vec());
        edit.set.insert("../../../bin/y".into(), b"uv".to_vec());
        edit.drop.insert("x.dist-info/uv_cache.json".into());
        assert_eq!(
            apply(text, &edit),
            "../../../bin/x,sha256=5hhM4Q4mYTT9z6QB6PGpUAW81PGNFrYrdXMj4oM_6ak,2\n\
             \"a,b.py\",sha256=k,1\nx.dist-info/RECORD,,\n\
             ../../../bin/y,sha256=5hhM4Q4mYTT9z6QB6PGpUAW81PGNFrYrdXMj4oM_6ak,2\n"
        );
        assert_eq!(line_path("\"a,\"\"b\",x,1"), "a,\"b");
    }

    #[test]
    fn reads_the_hash_field_and_blanks_lines() {
        assert_eq!(line_hash("a/b.py,sha256=k,1"), "sha256=k");
        assert_eq!(line_hash("\"a,\"\"b\",sha256=q,1"), "sha256=q");
        assert_eq!(line_hash("x.dist-info/RECORD,,"), "");
        assert_eq!(line_hash("lonely"), "");
        let mut edit = RecordEdit::default();
        edit.blank.insert("a,b.py".into());
        assert_eq!(
            apply("\"a,b.py\",sha256=k,1\nc.py,sha256=z,2\n", &edit),
            "\"a,b.py\",,\nc.py,sha256=z,2\n"
        );
    }
}
