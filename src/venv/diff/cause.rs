//! Why two files' bytes differ: the differing byte ranges are found, placed (in an ELF
//! section, in a `.pyc` header, in a zip member's time) and read as strings, and each
//! [`Cause`] is named from where they lie and what they say.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use super::{DiffError, Node, NodeKind};
use crate::elf::{ElfInfo, Endian};
use crate::shared::report::count;
use crate::venv::layout::is_installed_dist_info;
use crate::venv::record;

/// Why a file's contents likely differ between the builds. Each variant carries its evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum Cause {
    /// Compiled Python bytecode (`*.pyc`, `*.pyo`, anything in `__pycache__`).
    Bytecode {
        /// What the header says differs, when it says so.
        #[serde(skip_serializing_if = "Option::is_none")]
        header: Option<String>,
    },
    /// An ELF file whose differences (besides its build-id) all lie in debug sections.
    DebugInfo {
        /// The differing debug sections, sorted.
        sections: Vec<String>,
        /// The sections changed size, so later sections moved (and header offsets differ).
        moved: bool,
    },
    /// The ELF file's GNU build-id differs.
    BuildId {
        /// OLD's build-id, hex.
        old: String,
        /// NEW's build-id, hex.
        new: String,
        /// Nothing else in the file differs.
        alone: bool,
    },
    /// The differing bytes name what looks like a temporary build directory.
    BuildDirectory {
        /// The differing strings (at most [`MAX_EVIDENCE`]).
        strings: Vec<StringPair>,
    },
    /// Two or more distributions' RECORDs list this path: whichever installs last wins.
    InstallOrderClash {
        /// Every distribution listing it (`name version`), sorted.
        distributions: Vec<String>,
        /// The distributions whose RECORD digest OLD's file matches.
        old_matches: Vec<String>,
        /// The distributions whose RECORD digest NEW's file matches.
        new_matches: Vec<String>,
    },
    /// The differing bytes look like embedded times.
    Timestamp {
        /// The differing times, as found (at most [`MAX_EVIDENCE`]).
        strings: Vec<StringPair>,
    },
    /// A dist-info RECORD whose lines differ.
    Record {
        /// The differing lines, by path (at most [`MAX_EVIDENCE`] × 4).
        lines: Vec<RecordLineDiff>,
        /// How many more differ than are listed.
        more: usize,
    },
    /// None of the above.
    Unknown {
        /// The first byte that differs.
        first_offset: u64,
        /// For an ELF file, the sections holding the unexplained differences, sorted.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        sections: Vec<String>,
    },
}

/// Two differing strings, OLD's and NEW's, and where they were found.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct StringPair {
    /// OLD's.
    pub old: String,
    /// NEW's.
    pub new: String,
    /// An ELF section's name, or `offset 0x…` in the file.
    pub place: String,
}

/// One RECORD line that differs: the same path with other digests, or a path only one has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordLineDiff {
    /// The path the line is about.
    pub path: String,
    /// OLD's line, if it has one.
    pub old: Option<String>,
    /// NEW's line, if it has one.
    pub new: Option<String>,
}

/// How many strings, or groups of RECORD lines, a cause quotes.
pub const MAX_EVIDENCE: usize = 8;

impl Cause {
    /// The snake_case name, as the JSON's `cause` has it.
    pub fn name(&self) -> &'static str {
        match self {
            Cause::Bytecode { .. } => "bytecode",
            Cause::DebugInfo { .. } => "debug_info",
            Cause::BuildId { .. } => "build_id",
            Cause::BuildDirectory { .. } => "build_directory",
            Cause::InstallOrderClash { .. } => "install_order_clash",
            Cause::Timestamp { .. } => "timestamp",
            Cause::Record { .. } => "record",
            Cause::Unknown { .. } => "unknown",
        }
    }

    /// What the cause means for the user, in plain words.
    pub fn explain(&self) -> String {
        match self {
            Cause::Bytecode { header } => {
                let why = header
                    .as_ref()
                    .map(|h| format!(" Here {h}."))
                    .unwrap_or_default();
                format!(
                    "compiled Python bytecode: it records its source's time (or hash) and the \
                     path it was compiled at, so it differs from build to build.{why} Remove it \
                     in the FOD (`fix-venv prepare` does) and compile it in the main derivation \
                     (`fix-venv restore --compile-bytecode`)."
                )
            }
            Cause::DebugInfo { sections, moved } => {
                let moved = if *moved {
                    " They changed size, so the sections after them moved and header offsets \
                     differ too."
                } else {
                    ""
                };
                format!(
                    "only debug information differs ({}): it records the directory the compiler \
                     ran in and the source paths, which change between builds.{moved} Build \
                     without -g, with -ffile-prefix-map=$PWD=., or strip it (strip -g).",
                    sections.join(", ")
                )
            }
            Cause::BuildId {
                old,
                new,
                alone: true,
            } => format!(
                "only the GNU build-id differs ({old} in OLD, {new} in NEW): the linker set it \
                 from inputs that left no other trace in the file."
            ),
            Cause::BuildId { old, new, .. } => format!(
                "the GNU build-id differs ({old} in OLD, {new} in NEW). The linker computes it \
                 from the rest of the file, so it follows from the other differences and is \
                 not a cause of its own."
            ),
            Cause::BuildDirectory { strings } => {
                let first = strings
                    .first()
                    .map(|s| format!(" ({:?} in OLD, {:?} in NEW)", s.old, s.new))
                    .unwrap_or_default();
                format!(
                    "the differing bytes name a temporary build directory{first}, whose name is \
                     new on every build. Build from a fixed path, or map it away \
                     (-ffile-prefix-map for C, --remap-path-prefix for Rust)."
                )
            }
            Cause::InstallOrderClash {
                distributions,
                old_matches,
                new_matches,
            } => {
                let matches = |which: &str, m: &[String]| match m {
                    [] => format!("{which}'s copy matches none of their RECORD digests"),
                    m => format!("{which}'s copy matches {}'s RECORD", m.join(" and ")),
                };
                format!(
                    "{} all install this file (their RECORDs list it): two wheels write one \
                     path, and whichever installs last wins, which need not be the same on \
                     every build. {}; {}. Keep one of them, or make them agree.",
                    and_list(distributions),
                    matches("OLD", old_matches),
                    matches("NEW", new_matches)
                )
            }
            Cause::Timestamp { strings } => {
                let first = strings
                    .first()
                    .map(|s| format!(" ({:?} in OLD, {:?} in NEW)", s.old, s.new))
                    .unwrap_or_default();
                format!(
                    "the differing bytes look like an embedded time{first}. A guess from their \
                     shape (a date, a 10-digit Unix time, a zip or gzip member time) where the \
                     bytes differ; the tool that wrote them may honour SOURCE_DATE_EPOCH."
                )
            }
            Cause::Record { lines, more } => format!(
                "RECORD lists every installed file with its digest and size; {} differ. A \
                 changed digest follows from the file it names (see that file's entry); a line \
                 only one build has means the installs themselves differed.",
                count((lines.len() + more) as u64, "line")
            ),
            Cause::Unknown {
                first_offset,
                sections,
            } => {
                let sections = if sections.is_empty() {
                    String::new()
                } else {
                    format!(" (differing sections: {})", sections.join(", "))
                };
                format!(
                    "no known cause: the first difference is at byte {first_offset} \
                     ({first_offset:#x}){sections}"
                )
            }
        }
    }
}

fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Which distributions' RECORDs, in either tree, list each path.
#[derive(Debug, Default)]
pub(super) struct RecordIndex {
    /// Tree-relative path → (dist-info directory, digest) for every RECORD line naming it.
    owners: BTreeMap<PathBuf, BTreeSet<(PathBuf, Option<String>)>>,
}

impl RecordIndex {
    /// Reads the RECORD of every installed distribution in the trees (not a vendored
    /// package's dist-info: it installed nothing).
    pub(super) fn build(
        trees: &[(&Path, &BTreeMap<PathBuf, Node>)],
        errors: &mut Vec<DiffError>,
    ) -> Self {
        let mut index = RecordIndex::default();
        for (root, nodes) in trees {
            for (rel, node) in nodes.iter() {
                let Some(dist_info) = rel.parent().filter(|p| is_installed_dist_info(p)) else {
                    continue;
                };
                if node.kind != NodeKind::File || rel.file_name() != Some("RECORD".as_ref()) {
                    continue;
                }
                let path = root.join(rel);
                let text = match std::fs::read(&path) {
                    Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    Err(e) => {
                        errors.push(DiffError::read(&path, e));
                        continue;
                    }
                };
                let site = dist_info.parent().unwrap_or(Path::new(""));
                for (_, entry) in record::entries(&text) {
                    if let Some(target) = inside(&site.join(&entry.path)) {
                        index
                            .owners
                            .entry(target)
                            .or_default()
                            .insert((dist_info.to_path_buf(), entry.hash));
                    }
                }
            }
        }
        index
    }

    /// The clash at `rel`, if two or more distributions list it, and whether it explains the
    /// difference on its own (each tree's file matches a different distribution's digest).
    fn clash(&self, rel: &Path, a: &[u8], b: &[u8]) -> Option<(Cause, bool)> {
        let owners = self.owners.get(rel)?;
        let dists: BTreeSet<&PathBuf> = owners.iter().map(|(d, _)| d).collect();
        if dists.len() < 2 {
            return None;
        }
        let (ha, hb) = (record::hash(a), record::hash(b));
        let matching = |h: &str| -> Vec<String> {
            let names: BTreeSet<String> = owners
                .iter()
                .filter(|(_, digest)| digest.as_deref() == Some(h))
                .map(|(d, _)| distribution(d))
                .collect();
            names.into_iter().collect()
        };
        let (old_matches, new_matches) = (matching(&ha), matching(&hb));
        let decisive =
            !old_matches.is_empty() && !new_matches.is_empty() && old_matches != new_matches;
        let names: BTreeSet<String> = dists.iter().map(|d| distribution(d)).collect();
        Some((
            Cause::InstallOrderClash {
                distributions: names.into_iter().collect(),
                old_matches,
                new_matches,
            },
            decisive,
        ))
    }
}

fn is_dist_info(dir: &Path) -> bool {
    dir.file_name()
        .is_some_and(|n| n.as_bytes().ends_with(b".dist-info"))
}

/// `name version` from a `NAME-VERSION.dist-info` directory.
fn distribution(dist_info: &Path) -> String {
    let name = dist_info
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".dist-info").unwrap_or(&name);
    match stem.split_once('-') {
        Some((dist, version)) => format!("{dist} {version}"),
        None => stem.to_string(),
    }
}

/// A RECORD path joined to its site-packages, with `..` resolved; None when it leaves the
/// tree (an absolute path, or too many `..`), since such a file is not compared.
fn inside(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(name) => out.push(name),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The likely causes of `a` (OLD's bytes) and `b` (NEW's) differing at `rel`, most telling
/// first; never empty.
pub(super) fn classify(rel: &Path, a: &[u8], b: &[u8], records: &RecordIndex) -> Vec<Cause> {
    let mut causes = Vec::new();
    if let Some((clash, decisive)) = records.clash(rel, a, b) {
        causes.push(clash);
        if decisive {
            // Each build holds another wheel's file: the bytes say nothing more.
            return causes;
        }
    }
    if is_bytecode(rel) {
        causes.push(Cause::Bytecode {
            header: pyc_header(a, b),
        });
    }
    if rel.file_name() == Some("RECORD".as_ref()) && rel.parent().is_some_and(is_dist_info) {
        causes.extend(record_cause(a, b));
    }
    let elf = ElfSpans::of(a, b);
    let spans = match &elf {
        Some(elf) => elf.spans.clone(),
        None => vec![Span {
            place: None,
            old: 0..a.len(),
            new: 0..b.len(),
        }],
    };
    let mut build_id = false;
    let (mut debug, mut other) = (BTreeSet::new(), BTreeSet::new());
    let mut text_regions: Vec<(Region, String)> = Vec::new();
    for span in &spans {
        let place = span.place.as_deref();
        for region in regions(&a[span.old.clone()], &b[span.new.clone()]) {
            let region = Region {
                old: region.old.start + span.old.start..region.old.end + span.old.start,
                new: region.new.start + span.new.start..region.new.end + span.new.start,
            };
            match place {
                Some(BUILD_ID) => {
                    build_id = true;
                    continue;
                }
                Some(name) if is_debug_section(name) => {
                    debug.insert(name.to_string());
                }
                Some(name) => {
                    other.insert(name.to_string());
                }
                None => {
                    other.insert(String::new());
                }
            }
            let place = place
                .map(str::to_string)
                .unwrap_or_else(|| format!("offset {:#x}", region.old.start));
            text_regions.push((region, place));
        }
    }
    if let Some(elf) = &elf {
        if !debug.is_empty() && other.is_empty() {
            causes.push(Cause::DebugInfo {
                sections: debug.iter().cloned().collect(),
                moved: elf.moved,
            });
        }
        // After what it follows from.
        if build_id {
            causes.push(Cause::BuildId {
                old: elf.build_ids.0.clone(),
                new: elf.build_ids.1.clone(),
                alone: debug.is_empty() && other.is_empty(),
            });
        }
    }
    causes.extend(build_directory(a, b, &text_regions));
    causes.extend(timestamp(a, b, &text_regions));
    let explained = causes.iter().any(|c| !matches!(c, Cause::BuildId { .. }));
    if !explained {
        let first = a
            .iter()
            .zip(b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        let sections = if elf.is_some() {
            other
                .union(&debug)
                .map(|s| {
                    if s.is_empty() {
                        "(headers)".to_string()
                    } else {
                        s.clone()
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        causes.push(Cause::Unknown {
            first_offset: first as u64,
            sections,
        });
    }
    causes
}

fn is_bytecode(rel: &Path) -> bool {
    let ext = rel.extension().map(|e| e.as_bytes());
    ext == Some(b"pyc")
        || ext == Some(b"pyo")
        || rel.components().any(|c| c.as_os_str() == "__pycache__")
}

/// What a `.pyc` header (PEP 552: magic, flags, then the source's mtime and size, or its
/// hash) says differs, when the difference is there.
fn pyc_header(a: &[u8], b: &[u8]) -> Option<String> {
    if a.len() < 16 || b.len() < 16 {
        return None;
    }
    if a[..4] != b[..4] {
        return Some(
            "they were compiled by different Python versions (magic numbers differ)".into(),
        );
    }
    let word = |x: &[u8], at: usize| u32::from_le_bytes([x[at], x[at + 1], x[at + 2], x[at + 3]]);
    let (flags_a, flags_b) = (word(a, 4), word(b, 4));
    if flags_a != flags_b {
        return Some("one is checked by source time and the other by source hash".into());
    }
    if flags_a & 1 != 0 {
        return (a[8..16] != b[8..16])
            .then(|| "the source hash in the header differs: the .py files differ".into());
    }
    if a[8..12] != b[8..12] {
        return Some(format!(
            "the source time in the header differs ({} in OLD, {} in NEW)",
            utc(u64::from(word(a, 8))),
            utc(u64::from(word(b, 8)))
        ));
    }
    (a[12..16] != b[12..16]).then(|| "the source size in the header differs".into())
}

/// The lines of two RECORDs that differ, by path.
fn record_cause(a: &[u8], b: &[u8]) -> Option<Cause> {
    let parse = |bytes: &[u8]| -> BTreeMap<String, String> {
        let text = String::from_utf8_lossy(bytes);
        record::entries(&text)
            .map(|(line, entry)| (entry.path, line.to_string()))
            .collect()
    };
    let (old, new) = (parse(a), parse(b));
    let paths: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut lines = Vec::new();
    for path in paths {
        let (o, n) = (old.get(path), new.get(path));
        if o != n {
            lines.push(RecordLineDiff {
                path: path.clone(),
                old: o.cloned(),
                new: n.cloned(),
            });
        }
    }
    if lines.is_empty() {
        // The same lines, in another order or with other line ends.
        return None;
    }
    let keep = MAX_EVIDENCE * 4;
    let more = lines.len().saturating_sub(keep);
    lines.truncate(keep);
    Some(Cause::Record { lines, more })
}

/// The section every GNU build-id lives in.
const BUILD_ID: &str = ".note.gnu.build-id";

fn is_debug_section(name: &str) -> bool {
    name.starts_with(".debug_")
        || name.starts_with(".zdebug_")
        || name == ".gnu_debuglink"
        || name == ".gnu_debugaltlink"
}

/// A stretch of both files compared on its own: an ELF section (or the bytes between
/// sections, `place` None), or the whole file.
#[derive(Clone, Debug)]
struct Span {
    place: Option<String>,
    old: Range<usize>,
    new: Range<usize>,
}

/// Two ELF files cut into matching sections.
#[derive(Debug)]
struct ElfSpans {
    spans: Vec<Span>,
    /// Sections changed size, so the files are compared section by section.
    moved: bool,
    /// OLD's and NEW's build-ids, hex (empty when there is none).
    build_ids: (String, String),
}

impl ElfSpans {
    /// None unless both are ELF files with the same sections, by name and order.
    fn of(a: &[u8], b: &[u8]) -> Option<ElfSpans> {
        let (ia, ib) = (ElfInfo::parse(a).ok()??, ElfInfo::parse(b).ok()??);
        let (sa, sb) = (sections(&ia, a), sections(&ib, b));
        if sa.len() != sb.len() || sa.iter().zip(&sb).any(|(x, y)| x.0 != y.0) {
            return None;
        }
        let moved = a.len() != b.len() || sa.iter().zip(&sb).any(|(x, y)| x.1 != y.1);
        let mut spans = Vec::new();
        if moved {
            // Offsets differ: compare each section with its namesake. Header offsets differ
            // too, but only because the sections moved.
            for ((name, ra), (_, rb)) in sa.iter().zip(&sb) {
                if let (Some(ra), Some(rb)) = (ra, rb) {
                    spans.push(Span {
                        place: Some(name.clone()),
                        old: ra.clone(),
                        new: rb.clone(),
                    });
                }
            }
        } else {
            // One layout: the whole file, cut at section boundaries; what lies between
            // sections (headers, padding) has no name.
            let mut inside: Vec<(&String, &Range<usize>)> = sa
                .iter()
                .filter_map(|(n, r)| r.as_ref().map(|r| (n, r)))
                .collect();
            inside.sort_by_key(|(_, r)| (r.start, r.end));
            let mut at = 0;
            for (name, r) in inside {
                if r.start < at {
                    continue; // overlaps the previous section: already compared
                }
                if r.start > at {
                    spans.push(Span {
                        place: None,
                        old: at..r.start,
                        new: at..r.start,
                    });
                }
                spans.push(Span {
                    place: Some(name.clone()),
                    old: r.clone(),
                    new: r.clone(),
                });
                at = r.end;
            }
            if at < a.len() {
                spans.push(Span {
                    place: None,
                    old: at..a.len(),
                    new: at..b.len(),
                });
            }
        }
        let build_ids = (build_id(&ia, &sa, a), build_id(&ib, &sb, b));
        Some(ElfSpans {
            spans,
            moved,
            build_ids,
        })
    }
}

/// Each section's name and its bytes in the file (None for SHT_NOBITS, empty or out of
/// bounds ones), in header order.
fn sections(info: &ElfInfo, bytes: &[u8]) -> Vec<(String, Option<Range<usize>>)> {
    let names = info.section_names(bytes);
    info.section_headers
        .iter()
        .zip(names)
        .map(|(s, name)| {
            let name = String::from_utf8_lossy(name.unwrap_or_default()).into_owned();
            let range = (s.sh_type != goblin::elf::section_header::SHT_NOBITS && s.sh_size > 0)
                .then(|| {
                    let start = usize::try_from(s.sh_offset).ok()?;
                    let end = start.checked_add(usize::try_from(s.sh_size).ok()?)?;
                    (end <= bytes.len()).then_some(start..end)
                })
                .flatten();
            (name, range)
        })
        .collect()
}

/// The GNU build-id as hex: the descriptor of the note in `.note.gnu.build-id`.
fn build_id(info: &ElfInfo, sections: &[(String, Option<Range<usize>>)], bytes: &[u8]) -> String {
    let Some(range) = sections
        .iter()
        .find(|(n, _)| n == BUILD_ID)
        .and_then(|(_, r)| r.clone())
    else {
        return String::new();
    };
    let note = &bytes[range];
    let word = |at: usize| -> Option<usize> {
        let w: [u8; 4] = note.get(at..at + 4)?.try_into().ok()?;
        Some(match info.endian {
            Endian::Little => u32::from_le_bytes(w),
            Endian::Big => u32::from_be_bytes(w),
        } as usize)
    };
    let (Some(namesz), Some(descsz)) = (word(0), word(4)) else {
        return String::new();
    };
    let desc_at = 12 + namesz.div_ceil(4) * 4;
    note.get(desc_at..desc_at.saturating_add(descsz))
        .map(|d| d.iter().map(|x| format!("{x:02x}")).collect())
        .unwrap_or_default()
}

/// Where two buffers differ: a range in each.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Region {
    old: Range<usize>,
    new: Range<usize>,
}

/// At most this many regions are looked at per span: a file that differs everywhere costs no
/// more than one that differs in a few places.
const MAX_REGIONS: usize = 4096;
/// Differing bytes closer than this are one region, so a changed name is one region, not one
/// per letter.
const JOIN: usize = 8;

/// The regions where `a` and `b` differ. Of one length, they are compared byte by byte; of
/// different lengths, what lies between their common prefix and common suffix is one region
/// (a string that grew or shrank).
fn regions(a: &[u8], b: &[u8]) -> Vec<Region> {
    if a.len() != b.len() {
        let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let room = a.len().min(b.len()) - prefix;
        let suffix = a
            .iter()
            .rev()
            .zip(b.iter().rev())
            .take(room)
            .take_while(|(x, y)| x == y)
            .count();
        return vec![Region {
            old: prefix..a.len() - suffix,
            new: prefix..b.len() - suffix,
        }];
    }
    let mut out = Vec::new();
    let mut current: Option<Range<usize>> = None;
    let mut i = 0;
    while i < a.len() && out.len() < MAX_REGIONS {
        if current.is_none() {
            // Equal stretches are skipped a block at a time.
            let block = (a.len() - i).min(4096);
            if a[i..i + block] == b[i..i + block] {
                i += block;
                continue;
            }
        }
        if a[i] != b[i] {
            match &mut current {
                Some(r) if i - r.end < JOIN => r.end = i + 1,
                _ => {
                    out.extend(current.take());
                    current = Some(i..i + 1);
                }
            }
        } else if current.as_ref().is_some_and(|r| i - r.end >= JOIN) {
            out.extend(current.take());
        }
        i += 1;
    }
    out.extend(current);
    out.truncate(MAX_REGIONS);
    out.into_iter()
        .map(|r| Region {
            old: r.clone(),
            new: r,
        })
        .collect()
}

/// Bytes that make up text: printable ASCII and space.
fn is_text(c: u8) -> bool {
    (0x20..0x7f).contains(&c)
}

/// Bytes that end a path-like token.
fn ends_token(c: u8) -> bool {
    !is_text(c) || b" \"'=,;:()[]<>`".contains(&c)
}

/// The first byte of `range` that is text (or, for an empty range, the text byte at or just
/// before it).
fn first_text(buf: &[u8], range: &Range<usize>) -> Option<usize> {
    if range.is_empty() {
        let at = range.start;
        return [Some(at), at.checked_sub(1)]
            .into_iter()
            .flatten()
            .find(|&p| buf.get(p).copied().is_some_and(is_text));
    }
    buf[range.clone()]
        .iter()
        .position(|&c| is_text(c))
        .map(|p| range.start + p)
}

/// The span around `at` of bytes that `keep` accepts, at most `max` bytes each side.
fn around(buf: &[u8], at: usize, max: usize, keep: impl Fn(u8) -> bool) -> Range<usize> {
    let mut start = at;
    while start > 0 && at - start < max && keep(buf[start - 1]) {
        start -= 1;
    }
    let mut end = at;
    while end < buf.len() && end - at < max && keep(buf[end]) {
        end += 1;
    }
    start..end
}

/// How far a quoted string reaches either side of a difference.
const WINDOW: usize = 120;

/// The path-like token at the first text byte of `range`.
fn token(buf: &[u8], range: &Range<usize>) -> Option<String> {
    let at = first_text(buf, range)?;
    let span = around(buf, at, WINDOW, |c| !ends_token(c));
    (!span.is_empty()).then(|| String::from_utf8_lossy(&buf[span]).into_owned())
}

/// Whether `s` looks like a path under a temporary build directory: `/tmp/…`, `/build/…`
/// (Nix's sandbox), `…/.tmp…` (uv, tempfile), uv's cache `sdists-v*/`/`builds-v*/`,
/// `nix-build-…`, pip's `pip-req-build-…`, macOS's `/var/folders/…`.
pub fn looks_like_build_dir(s: &str) -> bool {
    const MARKS: [&str; 10] = [
        "/tmp/",
        "/var/tmp/",
        "/.tmp",
        "/sdists-v",
        "/builds-v",
        "nix-build-",
        "pip-req-build-",
        "pip-build-env-",
        "/var/folders/",
        "/build/",
    ];
    MARKS.iter().any(|m| s.contains(m)) || s.starts_with("/build") || s.starts_with("/tmp")
}

/// Every path-like token `range` touches, in order, the first and last extended to their
/// whole token.
fn tokens(buf: &[u8], range: &Range<usize>) -> Vec<String> {
    if range.is_empty() {
        return token(buf, range).into_iter().collect();
    }
    let start = around(buf, range.start, WINDOW, |c| !ends_token(c)).start;
    let end = around(buf, range.end - 1, WINDOW, |c| !ends_token(c)).end;
    (buf[start.min(range.start)..end.max(range.end)].split(|&c| ends_token(c)))
        .filter(|t| !t.is_empty())
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect()
}

/// The build directories a differing region names on each side, paired in order. A linker
/// merging string sections may lay the same strings out in another order when one of them
/// changes, so the directory need not sit at the same offset in both files: the tokens at
/// one offset are the evidence only when neither side names a directory elsewhere in it.
fn directory_pairs(a: &[u8], b: &[u8], r: &Region) -> Vec<(String, String)> {
    let dirs = |buf: &[u8], range: &Range<usize>| -> Vec<String> {
        (tokens(buf, range).into_iter())
            .filter(|t| looks_like_build_dir(t))
            .collect()
    };
    let (old, new) = (dirs(a, &r.old), dirs(b, &r.new));
    if !old.is_empty() && !new.is_empty() {
        return old.into_iter().zip(new).filter(|(o, n)| o != n).collect();
    }
    match (token(a, &r.old), token(b, &r.new)) {
        (Some(old), Some(new))
            if old != new && (looks_like_build_dir(&old) || looks_like_build_dir(&new)) =>
        {
            vec![(old, new)]
        }
        _ => Vec::new(),
    }
}

fn build_directory(a: &[u8], b: &[u8], regions: &[(Region, String)]) -> Option<Cause> {
    let mut strings = BTreeSet::new();
    'regions: for (r, place) in regions {
        for (old, new) in directory_pairs(a, b, r) {
            strings.insert(StringPair {
                old,
                new,
                place: place.clone(),
            });
            if strings.len() == MAX_EVIDENCE {
                break 'regions;
            }
        }
    }
    (!strings.is_empty()).then(|| Cause::BuildDirectory {
        strings: strings.into_iter().collect(),
    })
}

fn timestamp(a: &[u8], b: &[u8], regions: &[(Region, String)]) -> Option<Cause> {
    let mut strings = BTreeSet::new();
    for (r, place) in regions {
        if strings.len() >= MAX_EVIDENCE {
            break;
        }
        if let Some(pair) = archive_time(a, b, r) {
            strings.insert(pair);
            continue;
        }
        if let (Some(old), Some(new)) = (time_in_text(a, &r.old), time_in_text(b, &r.new)) {
            if old != new {
                strings.insert(StringPair {
                    old,
                    new,
                    place: place.clone(),
                });
            }
        }
    }
    (!strings.is_empty()).then(|| Cause::Timestamp {
        strings: strings.into_iter().collect(),
    })
}

/// A zip (wheel, egg, jar) member time or a gzip header time that `r` falls in, decoded, when
/// both files are such archives of one length.
fn archive_time(a: &[u8], b: &[u8], r: &Region) -> Option<StringPair> {
    if a.len() != b.len() || r.old.is_empty() {
        return None;
    }
    let within = |field: Range<usize>| field.start <= r.old.start && r.old.end <= field.end;
    if a.starts_with(b"\x1f\x8b") && b.starts_with(b"\x1f\x8b") && within(4..8) {
        let mtime = |x: &[u8]| u64::from(u32::from_le_bytes([x[4], x[5], x[6], x[7]]));
        return Some(StringPair {
            old: utc(mtime(a)),
            new: utc(mtime(b)),
            place: "gzip header time".into(),
        });
    }
    if !(a.starts_with(b"PK\x03\x04") && b.starts_with(b"PK\x03\x04")) {
        return None;
    }
    // The DOS time and date of a local header (at 10) or central directory entry (at 12).
    for (magic, at) in [(&b"PK\x03\x04"[..], 10), (&b"PK\x01\x02"[..], 12)] {
        let lo = r.old.start.saturating_sub(at + 3);
        let hay = &a[lo..r.old.start.min(a.len())];
        for found in memchr::memmem::find_iter(hay, magic) {
            let field = lo + found + at;
            if within(field..field + 4) && field + 4 <= a.len() {
                return Some(StringPair {
                    old: dos_time(&a[field..field + 4]),
                    new: dos_time(&b[field..field + 4]),
                    place: format!("zip member time at offset {field:#x}"),
                });
            }
        }
    }
    None
}

/// A DOS time and date (little-endian, time first), as zip stores member times.
fn dos_time(x: &[u8]) -> String {
    let time = u16::from_le_bytes([x[0], x[1]]);
    let date = u16::from_le_bytes([x[2], x[3]]);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        1980 + (date >> 9),
        (date >> 5) & 15,
        date & 31,
        time >> 11,
        (time >> 5) & 63,
        (time & 31) * 2
    )
}

/// A date (`YYYY-MM-DD`, with a time when one follows) or a 10-digit Unix time between 2001
/// and 2286 that overlaps `range` in the text around it.
fn time_in_text(buf: &[u8], range: &Range<usize>) -> Option<String> {
    let at = first_text(buf, range)?;
    let span = around(buf, at, WINDOW, is_text);
    let text = &buf[span.clone()];
    let digit = |i: usize| text.get(i).is_some_and(u8::is_ascii_digit);
    let overlaps = |m: &Range<usize>| {
        let m = span.start + m.start..span.start + m.end;
        m.start < range.end.max(range.start + 1) && range.start < m.end
    };
    let mut i = 0;
    while i < text.len() {
        if !digit(i) || (i > 0 && digit(i - 1)) {
            i += 1;
            continue;
        }
        let run = (i..text.len()).take_while(|&j| digit(j)).count();
        let date = run == 4
            && text.get(i + 4) == Some(&b'-')
            && digit(i + 5)
            && digit(i + 6)
            && text.get(i + 7) == Some(&b'-')
            && digit(i + 8)
            && digit(i + 9);
        let found = if date {
            // Take a time of day too: `T` or a space, then `HH:MM[:SS]`.
            let mut end = i + 10;
            if matches!(text.get(end), Some(b'T' | b' ')) && digit(end + 1) && digit(end + 2) {
                let time = (end + 1..text.len())
                    .take_while(|&j| digit(j) || text[j] == b':' || text[j] == b'.')
                    .count();
                if time >= 5 {
                    end += 1 + time;
                }
            }
            Some(i..end)
        } else if run == 10 && text[i] == b'1' {
            Some(i..i + 10)
        } else {
            None
        };
        if let Some(m) = found {
            if overlaps(&m) {
                return Some(String::from_utf8_lossy(&text[m]).into_owned());
            }
        }
        i += run;
    }
    None
}

/// `secs` since the Unix epoch as a UTC date and time (Howard Hinnant's civil calendar).
fn utc(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_records() -> RecordIndex {
        RecordIndex::default()
    }

    #[test]
    fn joins_nearby_bytes_into_one_region_and_splits_far_ones() {
        let a = b"aaaaXaXaaaaaaaaaaaaaaaaaaaaaaaaaaaaYaa";
        let b = b"aaaaZaZaaaaaaaaaaaaaaaaaaaaaaaaaaaaWaa";
        let r = regions(a, b);
        assert_eq!(
            r.iter().map(|r| r.old.clone()).collect::<Vec<_>>(),
            [4..7, 35..36]
        );
        let grown = regions(b"/tmp/ab/x", b"/tmp/abcd/x");
        assert_eq!(
            grown,
            [Region {
                old: 7..7,
                new: 7..9
            }]
        );
    }

    #[test]
    fn names_the_build_directory_around_a_difference() {
        let a = b"\0comp_dir\0/tmp/.tmpAbc123/build\0";
        let b = b"\0comp_dir\0/tmp/.tmpXyz789/build\0";
        let causes = classify(Path::new("x.so"), a, b, &no_records());
        let Cause::BuildDirectory { strings } = &causes[0] else {
            panic!("{causes:?}");
        };
        assert_eq!(strings[0].old, "/tmp/.tmpAbc123/build");
        assert_eq!(strings[0].new, "/tmp/.tmpXyz789/build");
        assert_eq!(causes.len(), 1);
    }

    #[test]
    fn pairs_build_directories_a_merged_string_table_laid_out_in_another_order() {
        // A linker merging .debug_line_str put the directory first in one build and the
        // file name first in the other: at one offset, "ext.c" faces a directory.
        let a = b"\0ext.c\0/tmp/.tmpAbc123/build\0";
        let b = b"\0/tmp/.tmpXyz789/build\0ext.c\0";
        let causes = classify(Path::new("x.so"), a, b, &no_records());
        let Cause::BuildDirectory { strings } = &causes[0] else {
            panic!("{causes:?}");
        };
        assert_eq!(
            (strings[0].old.as_str(), strings[0].new.as_str()),
            ("/tmp/.tmpAbc123/build", "/tmp/.tmpXyz789/build"),
            "{strings:?}"
        );
    }

    #[test]
    fn finds_dates_and_epochs_only_where_bytes_differ() {
        let a = b"built 2024-01-01 on 2023-05-06T10:11:12 at 1700000000 x";
        let b = b"built 2024-01-01 on 2023-05-07T10:11:12 at 1700000000 x";
        let causes = classify(Path::new("BUILD_INFO"), a, b, &no_records());
        assert_eq!(
            causes,
            [Cause::Timestamp {
                strings: vec![StringPair {
                    old: "2023-05-06T10:11:12".into(),
                    new: "2023-05-07T10:11:12".into(),
                    place: "offset 0x1d".into(),
                }]
            }]
        );
        let causes = classify(
            Path::new("f"),
            b"t=1700000000;",
            b"t=1700000999;",
            &no_records(),
        );
        assert!(
            matches!(&causes[0], Cause::Timestamp { strings } if strings[0].new == "1700000999")
        );
        let causes = classify(Path::new("f"), b"value 42", b"value 43", &no_records());
        assert!(
            matches!(
                causes[..],
                [Cause::Unknown {
                    first_offset: 7,
                    ..
                }]
            ),
            "{causes:?}"
        );
    }

    #[test]
    fn decodes_zip_member_times() {
        let mut a = b"PK\x03\x04\x14\x00\x00\x00\x00\x00".to_vec();
        a.extend([0x00, 0x60, 0x21, 0x58]); // 12:00:00, 2024-01-01
        a.extend(b"rest of the member");
        let mut b = a.clone();
        b[10..14].copy_from_slice(&[0x00, 0x68, 0x21, 0x58]); // 13:00:00
        let causes = classify(Path::new("x.whl"), &a, &b, &no_records());
        assert_eq!(
            causes,
            [Cause::Timestamp {
                strings: vec![StringPair {
                    old: "2024-01-01 12:00:00".into(),
                    new: "2024-01-01 13:00:00".into(),
                    place: "zip member time at offset 0xa".into(),
                }]
            }]
        );
    }

    #[test]
    fn reads_the_pyc_header() {
        let mut a = vec![0xa7, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0];
        a.extend(1_700_000_000u32.to_le_bytes());
        a.extend([9, 0, 0, 0, 0xe3]);
        let mut b = a.clone();
        b[8..12].copy_from_slice(&1_700_086_400u32.to_le_bytes());
        let causes = classify(
            Path::new("m/__pycache__/x.cpython-311.pyc"),
            &a,
            &b,
            &no_records(),
        );
        let Cause::Bytecode { header: Some(h) } = &causes[0] else {
            panic!("{causes:?}");
        };
        assert!(h.contains("2023-11-14 22:13:20 UTC"), "{h}");
        assert!(h.contains("2023-11-15 22:13:20 UTC"), "{h}");
    }

    #[test]
    fn lists_the_record_lines_that_differ() {
        let a = b"a.py,sha256=x,1\nb.py,sha256=y,2\nc.py,sha256=z,3\n";
        let b = b"a.py,sha256=x,1\nb.py,sha256=Y,2\nd.py,sha256=w,4\n";
        let causes = classify(Path::new("p-1.dist-info/RECORD"), a, b, &no_records());
        let Cause::Record { lines, more: 0 } = &causes[0] else {
            panic!("{causes:?}");
        };
        let paths: Vec<_> = lines.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(paths, ["b.py", "c.py", "d.py"]);
        assert_eq!(lines[1].new, None);
    }

    #[test]
    fn record_paths_leaving_the_tree_are_dropped() {
        assert_eq!(
            inside(Path::new("lib/python3.11/site-packages/../../../bin/x")),
            Some(PathBuf::from("bin/x"))
        );
        assert_eq!(inside(Path::new("site/../../x")), None);
        assert_eq!(inside(Path::new("/abs")), None);
        assert_eq!(
            distribution(Path::new("a/foo_bar-1.2.dist-info")),
            "foo_bar 1.2"
        );
    }

    #[test]
    fn formats_times() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
