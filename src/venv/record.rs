//! A dist-info's `RECORD`: `path,sha256=<urlsafe base64, no padding>,size` lines. Lines are
//! kept as they were except those whose file changed (new hash and size) or went away.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::error::{Result, VenvError};
use super::fsx::normalize;

/// `sha256=...` as RECORD writes it.
pub fn hash(bytes: &[u8]) -> String {
    format!("sha256={}", URL_SAFE_NO_PAD.encode(Sha256::digest(bytes)))
}

/// Whether `contents` has the digest `field` (`sha256=…`, `sha384=…`, `sha512=…`, as
/// RECORD writes them). Another algorithm, or no `=`, never matches.
pub fn digest_matches(field: &str, contents: &[u8]) -> bool {
    let Some((algorithm, digest)) = field.split_once('=') else {
        return false;
    };
    let ours = match algorithm {
        "sha256" => URL_SAFE_NO_PAD.encode(Sha256::digest(contents)),
        "sha384" => URL_SAFE_NO_PAD.encode(Sha384::digest(contents)),
        "sha512" => URL_SAFE_NO_PAD.encode(Sha512::digest(contents)),
        _ => return false,
    };
    ours == digest.trim_end_matches('=')
}

/// One line of a RECORD, parsed: `path,sha256=DIGEST,SIZE`, the path CSV-quoted when it
/// holds a comma or a quote. A blanked line (`path,,`, as RECORD's own line is written) has
/// neither hash nor size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordEntry {
    /// The file's path relative to site-packages (`../../../bin/x` for a script), unquoted.
    pub path: String,
    /// `sha256=…`; None when the field is blank or missing.
    pub hash: Option<String>,
    /// The file's length; None when the field is blank, missing or not a number.
    pub size: Option<u64>,
}

impl RecordEntry {
    /// Parses one line. Any text is some entry: a line without a comma is a path alone.
    pub fn parse(line: &str) -> RecordEntry {
        let (path, rest) = split_path(line);
        let mut fields = rest.split(',');
        let hash = fields.next().filter(|h| !h.is_empty()).map(str::to_string);
        let size = fields.next().and_then(|s| s.parse().ok());
        RecordEntry { path, hash, size }
    }

    /// The entry of a file at `path` holding `contents`.
    pub fn of_contents(path: &str, contents: &[u8]) -> RecordEntry {
        RecordEntry {
            path: path.to_string(),
            hash: Some(hash(contents)),
            size: Some(contents.len() as u64),
        }
    }

    /// The entry of `path` without hash and size.
    pub fn blank(path: &str) -> RecordEntry {
        RecordEntry {
            path: path.to_string(),
            hash: None,
            size: None,
        }
    }

    /// Whether the line carries no digest (RECORD's own, or one `prepare` blanked).
    pub fn is_blank(&self) -> bool {
        self.hash.is_none()
    }
}

/// The line as RECORD writes it, the path quoted when it must be.
impl std::fmt::Display for RecordEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let size = self.size.map(|n| n.to_string()).unwrap_or_default();
        let hash = self.hash.as_deref().unwrap_or_default();
        write!(f, "{},{hash},{size}", quote(&self.path))
    }
}

/// Every line of a RECORD's text, as it stands and parsed.
pub fn entries(text: &str) -> impl Iterator<Item = (&str, RecordEntry)> {
    text.lines().map(|line| (line, RecordEntry::parse(line)))
}

/// The first CSV field (the path, unquoted when it is quoted), and what follows its comma
/// (`""` when there is none).
fn split_path(line: &str) -> (String, &str) {
    let Some(quoted) = line.strip_prefix('"') else {
        return match line.split_once(',') {
            Some((path, rest)) => (path.to_string(), rest),
            None => (line.to_string(), ""),
        };
    };
    // `""` is an escaped quote; the field ends at a lone one.
    let mut path = String::new();
    let mut chars = quoted.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' if chars.peek().is_some_and(|&(_, n)| n == '"') => {
                chars.next();
                path.push('"');
            }
            '"' => {
                let rest = &quoted[i + 1..];
                return (path, rest.strip_prefix(',').unwrap_or(""));
            }
            c => path.push(c),
        }
    }
    (path, "")
}

fn quote(path: &str) -> String {
    if path.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", path.replace('"', "\"\""))
    } else {
        path.to_string()
    }
}

/// One installed distribution's RECORD, read: where it is and what it lists.
#[derive(Clone, Debug)]
pub struct DistRecord {
    /// The RECORD file.
    pub record: PathBuf,
    /// The directory RECORD paths are relative to: the dist-info's parent (site-packages).
    pub site: PathBuf,
    /// `name-version`, from the dist-info directory's name (`pyrad-2.5.4`).
    pub dist: String,
    /// Its lines, parsed.
    pub entries: Vec<RecordEntry>,
}

impl DistRecord {
    /// Reads `record` (`SITE/NAME-VERSION.dist-info/RECORD`).
    pub fn read(record: &Path) -> Result<DistRecord> {
        let text = std::fs::read_to_string(record).map_err(|e| VenvError::io(record, e))?;
        let dist_info = record.parent().unwrap_or(record);
        let name = dist_info.file_name().unwrap_or_default().to_string_lossy();
        Ok(DistRecord {
            record: record.to_path_buf(),
            site: dist_info.parent().unwrap_or(dist_info).to_path_buf(),
            dist: name.strip_suffix(".dist-info").unwrap_or(&name).to_string(),
            entries: entries(&text).map(|(_, entry)| entry).collect(),
        })
    }

    /// The dist-info directory.
    pub fn dist_info(&self) -> &Path {
        self.record.parent().unwrap_or(&self.record)
    }

    /// Where `entry` lies, in the form [`normalize`] gives.
    pub fn path_of(&self, entry: &RecordEntry) -> PathBuf {
        normalize(&self.site.join(&entry.path))
    }
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
    /// Whether it names no path: the RECORD needs no rewrite.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.drop.is_empty() && self.blank.is_empty()
    }
}

/// Applies `edit` to RECORD text; lines not named keep their bytes.
pub fn apply(text: &str, edit: &RecordEdit) -> String {
    let mut out = String::with_capacity(text.len());
    let mut done = std::collections::BTreeSet::new();
    for (line, entry) in entries(text) {
        if edit.drop.contains(&entry.path) {
            continue;
        }
        match edit.set.get(&entry.path) {
            Some(contents) => {
                out.push_str(&RecordEntry::of_contents(&entry.path, contents).to_string());
                done.insert(entry.path);
            }
            None if edit.blank.contains(&entry.path) => {
                out.push_str(&RecordEntry::blank(&entry.path).to_string())
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    for (path, contents) in &edit.set {
        if !done.contains(path) {
            out.push_str(&RecordEntry::of_contents(path, contents).to_string());
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
    fn digests_match_by_their_own_algorithm() {
        assert!(digest_matches(&hash(b"uv"), b"uv"));
        assert!(!digest_matches(&hash(b"uv"), b"pip"));
        let sha512 = format!("sha512={}", URL_SAFE_NO_PAD.encode(Sha512::digest(b"uv")));
        assert!(digest_matches(&sha512, b"uv"));
        assert!(!digest_matches("md5=x", b"uv"));
        assert!(!digest_matches("", b""));
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
    }

    #[test]
    fn parses_paths_hashes_and_sizes_and_blanks_lines() {
        let parse = RecordEntry::parse;
        assert_eq!(
            parse("a/b.py,sha256=k,1"),
            RecordEntry {
                path: "a/b.py".into(),
                hash: Some("sha256=k".into()),
                size: Some(1),
            }
        );
        let quoted = parse("\"a,\"\"b\",sha256=q,12");
        assert_eq!(quoted.path, "a,\"b");
        assert_eq!(
            (quoted.hash.as_deref(), quoted.size),
            (Some("sha256=q"), Some(12))
        );
        assert_eq!(quoted.to_string(), "\"a,\"\"b\",sha256=q,12");
        assert!(parse("x.dist-info/RECORD,,").is_blank());
        assert_eq!(parse("lonely"), RecordEntry::blank("lonely"));
        assert_eq!(parse("\"unterminated,x").path, "unterminated,x");
        assert_eq!(RecordEntry::blank("a,b").to_string(), "\"a,b\",,");
        let mut edit = RecordEdit::default();
        edit.blank.insert("a,b.py".into());
        assert_eq!(
            apply("\"a,b.py\",sha256=k,1\nc.py,sha256=z,2\n", &edit),
            "\"a,b.py\",,\nc.py,sha256=z,2\n"
        );
    }
}
