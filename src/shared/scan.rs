//! Finding store references in bytes, in one streaming pass whatever the number of targets.
//!
//! Two things are collected per pass:
//! - *prefixed* references, `STORE_DIR/HASH-`, found with memmem on `STORE_DIR/`;
//! - *runs* of 32 or more Nix32 bytes, the only places a bare hash can stand. Nix's own
//!   scanner counts a hash with no prefix, but which hashes matter is only known once the
//!   whole tree has been scanned, so runs are kept (they are rare outside hashes) and matched
//!   later. When the hashes are known up front, bare hashes are matched during the pass.

use std::collections::HashSet;
use std::io::{self, Read};

use memchr::memmem;

use crate::shared::store::{is_nix32, name_after, StoreDir, StoreHash, HASH_LEN, MAX_NAME_LEN};

/// Bytes read per chunk; large enough that syscalls and the seam carry are noise.
const CHUNK: usize = 1 << 20;

/// The chunk size to read a file of `len` bytes with: the whole file when it is small.
pub fn chunk_for(len: u64) -> usize {
    (len as usize).saturating_add(1).clamp(4096, CHUNK)
}

/// Run bytes kept per file for later bare-hash matching. Past this the file is marked for a
/// second, targeted pass instead, so a file of a billion `0`s cannot exhaust memory.
const MAX_RUN_BYTES: usize = 1 << 20;

/// A `STORE_DIR/HASH-NAME` occurrence. `offset` is where the hash starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixedRef {
    /// Bytes from the start of what was scanned to the hash's first character (past
    /// `STORE_DIR/`); 0 for an entry name shaped `HASH-name`.
    pub offset: u64,
    /// The hash after `STORE_DIR/`.
    pub hash: StoreHash,
    /// The name after `HASH-`, up to the first byte Nix does not allow in a name and at most
    /// [`MAX_NAME_LEN`] bytes; empty when none follows.
    pub name: String,
}

/// A hash found standing bare (or anywhere) once the wanted hashes were known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BareRef {
    /// Bytes from the start of what was scanned to the hash's first character.
    pub offset: u64,
    /// One of the hashes the scanner was given.
    pub hash: StoreHash,
}

/// A maximal run of Nix32 bytes at least one hash long, kept for later matching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// Bytes from the start of what was scanned to the run's first byte.
    pub offset: u64,
    /// The run itself: [`HASH_LEN`] or more Nix32 bytes.
    pub bytes: Vec<u8>,
}

impl Run {
    /// Every hash-sized window of the run, with its offset.
    pub fn windows(&self) -> impl Iterator<Item = (u64, StoreHash)> + '_ {
        self.bytes.windows(HASH_LEN).enumerate().map(move |(i, w)| {
            let hash = StoreHash::from_bytes(w).expect("runs hold Nix32 bytes only");
            (self.offset + i as u64, hash)
        })
    }
}

/// What one pass over one byte stream found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanFindings {
    /// Every `STORE_DIR/HASH-` occurrence, whatever its hash.
    pub prefixed: Vec<PrefixedRef>,
    /// Bare matches against the hashes given to the scanner, if any were.
    pub bare: Vec<BareRef>,
    /// Runs kept for matching later (when no hashes were given, or the scanner keeps runs).
    pub runs: Vec<Run>,
    /// The runs did not fit in `MAX_RUN_BYTES` (1 MiB); rescan with the hashes once known.
    pub runs_overflowed: bool,
    /// Bytes read.
    pub len: u64,
    /// The bytes `runs` holds, kept as they grow so the limit check stays O(1) per run.
    run_bytes: usize,
}

impl ScanFindings {
    /// Nothing found, and no rescan needed: the entry can be forgotten.
    pub fn is_empty(&self) -> bool {
        self.prefixed.is_empty()
            && self.bare.is_empty()
            && self.runs.is_empty()
            && !self.runs_overflowed
    }
}

/// Scans bytes for one store directory.
pub struct Scanner<'h> {
    finder: memmem::Finder<'static>,
    prefix_len: usize,
    /// When set, bare hashes are matched against it during the pass.
    known: Option<&'h HashSet<StoreHash>>,
    /// Keep runs for matching later: without `known`, or when the tree may add hashes to it.
    keep_runs: bool,
    /// Bytes a match starting at the last reportable position may need to look at.
    lookahead: usize,
}

impl<'h> Scanner<'h> {
    /// A scanner for references under `store`. With `known`, bare occurrences of those hashes
    /// are matched during the pass and runs are not kept (see [`Scanner::keeping_runs`]);
    /// without, runs are kept for matching once the wanted hashes are known.
    pub fn new(store: &StoreDir, known: Option<&'h HashSet<StoreHash>>) -> Scanner<'h> {
        let prefix_len = store.prefix().len();
        Scanner {
            finder: memmem::Finder::new(store.prefix()).into_owned(),
            prefix_len,
            known,
            keep_runs: known.is_none(),
            lookahead: (prefix_len + HASH_LEN + 1 + MAX_NAME_LEN).max(HASH_LEN),
        }
    }

    /// Also keeps runs when `known` is given: bare occurrences of the known hashes are matched
    /// during the pass, and the runs let hashes the tree adds be matched once it is scanned.
    pub fn keeping_runs(mut self) -> Scanner<'h> {
        self.keep_runs = true;
        self
    }

    /// Scans a whole byte string (a symlink target, a small file).
    pub fn scan_bytes(&self, bytes: &[u8]) -> ScanFindings {
        let mut found = ScanFindings::default();
        self.scan_chunk(bytes, bytes.len(), 0, &mut found);
        found.len = bytes.len() as u64;
        found
    }

    /// Scans a file or directory entry name. Besides what contents can hold, a name shaped
    /// like a store path's own base name (`HASH-name`) is a reference.
    pub fn scan_name(&self, name: &[u8]) -> ScanFindings {
        let mut found = self.scan_bytes(name);
        if name.len() > HASH_LEN && name[HASH_LEN] == b'-' {
            if let Some(hash) = StoreHash::from_bytes(&name[..HASH_LEN]) {
                found.prefixed.push(PrefixedRef {
                    offset: 0,
                    hash,
                    name: name_after(&name[HASH_LEN + 1..]),
                });
            }
        }
        found
    }

    /// Streams a reader through the scanner in chunks; a match that straddles two chunks is
    /// found once, because the tail that could still start a match is carried over.
    pub fn scan_reader<R: Read>(&self, reader: R) -> io::Result<ScanFindings> {
        self.scan_reader_chunked(reader, CHUNK)
    }

    /// [`Scanner::scan_reader`] with a chosen chunk size, so tests can put seams anywhere.
    pub fn scan_reader_chunked<R: Read>(
        &self,
        mut reader: R,
        chunk: usize,
    ) -> io::Result<ScanFindings> {
        // One buffer per thread, reused from file to file: allocating and zero-filling one for
        // every small file costs more than reading it.
        SCAN_BUFFER.with(|cell| {
            let mut buf = cell.take();
            let found = self.scan_reader_into(&mut reader, chunk, &mut buf);
            cell.replace(buf);
            found
        })
    }

    fn scan_reader_into<R: Read>(
        &self,
        reader: &mut R,
        chunk: usize,
        buf: &mut Vec<u8>,
    ) -> io::Result<ScanFindings> {
        let mut found = ScanFindings::default();
        let carry_max = self.lookahead - 1;
        let want = chunk.max(1) + carry_max;
        if buf.len() < want {
            buf.resize(want, 0);
        }
        let buf = &mut buf[..want];
        let (mut filled, mut base) = (0usize, 0u64);
        loop {
            let eof = fill(reader, buf, &mut filled)?;
            let limit = if eof {
                filled
            } else {
                filled.saturating_sub(carry_max)
            };
            self.scan_chunk(&buf[..filled], limit, base, &mut found);
            if eof {
                found.len = base + filled as u64;
                return Ok(found);
            }
            buf.copy_within(limit..filled, 0);
            filled -= limit;
            base += limit as u64;
        }
    }

    /// Reports matches that start before `limit`; bytes past it are only looked at.
    fn scan_chunk(&self, buf: &[u8], limit: usize, base: u64, found: &mut ScanFindings) {
        // Overlapping matches count: in `/nix/store/nix/store/HASH-` the reference starts at
        // the second prefix, which a non-overlapping search would step over.
        let mut from = 0;
        while let Some(found_at) = self.finder.find(&buf[from..]) {
            let at = from + found_at;
            from = at + 1;
            if at >= limit {
                break;
            }
            let start = at + self.prefix_len;
            let Some(hash) = buf
                .get(start..start + HASH_LEN)
                .and_then(StoreHash::from_bytes)
            else {
                continue;
            };
            if buf.get(start + HASH_LEN) != Some(&b'-') {
                continue;
            }
            found.prefixed.push(PrefixedRef {
                offset: base + start as u64,
                hash,
                name: name_after(&buf[start + HASH_LEN + 1..]),
            });
        }
        for_each_run(buf, limit, |run_start, windows_end| {
            let offset = base + run_start as u64;
            if let Some(known) = self.known {
                for w in run_start..windows_end {
                    let hash = StoreHash::from_bytes(&buf[w..w + HASH_LEN]).expect("run");
                    if known.contains(&hash) {
                        found.bare.push(BareRef {
                            offset: base + w as u64,
                            hash,
                        });
                    }
                }
            }
            if !self.keep_runs || found.runs_overflowed {
                return;
            }
            let bytes = &buf[run_start..windows_end + HASH_LEN - 1];
            if found.run_bytes + bytes.len() > MAX_RUN_BYTES {
                found.runs.clear();
                found.run_bytes = 0;
                found.runs_overflowed = true;
                return;
            }
            // A run cut by the chunk seam continues in the next chunk: join them so windows
            // across the seam are seen.
            if let Some(last) = found.runs.last_mut() {
                if last.offset + (last.bytes.len() - HASH_LEN + 1) as u64 == offset {
                    last.bytes.extend_from_slice(&bytes[HASH_LEN - 1..]);
                    found.run_bytes += bytes.len() - (HASH_LEN - 1);
                    return;
                }
            }
            found.run_bytes += bytes.len();
            found.runs.push(Run {
                offset,
                bytes: bytes.to_vec(),
            });
        });
    }
}

/// Calls `f(start, windows_end)` for each maximal run of Nix32 bytes in `buf` of at least
/// [`HASH_LEN`] bytes, where `start..windows_end` are the window starts below `limit`.
///
/// Like Nix's scanner it checks a window from its last byte backwards, so a non-alphabet
/// byte lets it skip ahead up to a whole window: on binary data few bytes are looked at.
fn for_each_run(buf: &[u8], limit: usize, mut f: impl FnMut(usize, usize)) {
    let n = buf.len();
    let mut i = 0;
    while i < limit && i + HASH_LEN <= n {
        let mut j = i + HASH_LEN;
        while j > i && is_nix32(buf[j - 1]) {
            j -= 1;
        }
        if j > i {
            i = j;
            continue;
        }
        let mut end = i + HASH_LEN;
        while end < n && is_nix32(buf[end]) {
            end += 1;
        }
        f(i, (end - HASH_LEN + 1).min(limit));
        i = end + 1;
    }
}

thread_local! {
    /// [`Scanner::scan_reader_chunked`]'s buffer, as large as the largest chunk read so far.
    static SCAN_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Reads until `buf` is full (`filled` counts its bytes) or the reader is exhausted; true at
/// end of input.
fn fill<R: Read>(reader: &mut R, buf: &mut [u8], filled: &mut usize) -> io::Result<bool> {
    loop {
        if *filled == buf.len() {
            return Ok(false);
        }
        match reader.read(&mut buf[*filled..]) {
            Ok(0) => return Ok(true),
            Ok(n) => *filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::store::testing::{hash, store, H1, H2};

    /// Feeds the reader one byte at a time, the worst case for seams.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || out.is_empty() {
                return Ok(0);
            }
            out[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn finds_prefixed_reference_with_name() {
        let text = format!("x=/nix/store/{H1}-python3-3.11.7/bin\n");
        let found = Scanner::new(&store(), None).scan_bytes(text.as_bytes());
        assert_eq!(
            found.prefixed,
            vec![PrefixedRef {
                offset: 13,
                hash: hash(H1),
                name: "python3-3.11.7".into()
            }]
        );
    }

    #[test]
    fn requires_dash_after_hash() {
        let text = format!("/nix/store/{H1}/x /nix/store/{}-y", "e".repeat(32));
        assert!(Scanner::new(&store(), None)
            .scan_bytes(text.as_bytes())
            .prefixed
            .is_empty());
    }

    #[test]
    fn keeps_runs_for_bare_hashes() {
        let text = format!("zz{H2}zz");
        let found = Scanner::new(&store(), None).scan_bytes(text.as_bytes());
        assert_eq!(found.runs.len(), 1);
        let windows: Vec<_> = found.runs[0].windows().collect();
        assert!(windows.contains(&(2, hash(H2))));
    }

    #[test]
    fn matches_known_hashes_bare() {
        let known: HashSet<_> = [hash(H2)].into();
        let text = format!("\0{H2}\0 and {H1}");
        let found = Scanner::new(&store(), Some(&known)).scan_bytes(text.as_bytes());
        assert_eq!(
            found.bare,
            vec![BareRef {
                offset: 1,
                hash: hash(H2)
            }]
        );
    }

    #[test]
    fn keeping_runs_matches_known_hashes_and_keeps_runs_for_the_others() {
        let known: HashSet<_> = [hash(H2)].into();
        let text = format!("\0{H2}\0 and {H1}");
        let found =
            (Scanner::new(&store(), Some(&known)).keeping_runs()).scan_bytes(text.as_bytes());
        assert_eq!(
            found.bare,
            [BareRef {
                offset: 1,
                hash: hash(H2)
            }]
        );
        let windows: Vec<_> = found.runs.iter().flat_map(Run::windows).collect();
        assert_eq!(windows, [(1, hash(H2)), (39, hash(H1))]);
    }

    #[test]
    fn streaming_equals_whole_buffer_across_seams() {
        let mut data = vec![0u8; 3 * CHUNK];
        let r = format!("/nix/store/{H1}-libxml2-2.13");
        // Put references and runs right across the chunk seams.
        for seam in [CHUNK, 2 * CHUNK - 40] {
            data[seam - 20..seam - 20 + r.len()].copy_from_slice(r.as_bytes());
        }
        data[CHUNK + 500..CHUNK + 500 + 70].copy_from_slice(&b"a".repeat(70));
        let scanner = Scanner::new(&store(), None);
        let whole = scanner.scan_bytes(&data);
        let streamed = scanner.scan_reader(&data[..]).unwrap();
        assert_eq!(whole, streamed);
        assert_eq!(whole.prefixed.len(), 2);
        let small = format!("ab/nix/store/{H1}-n {H2}");
        let trickled = scanner.scan_reader(Trickle(small.as_bytes())).unwrap();
        assert_eq!(trickled, scanner.scan_bytes(small.as_bytes()));
    }

    #[test]
    fn runs_past_the_cap_ask_for_a_rescan() {
        let data = vec![b'0'; MAX_RUN_BYTES + 100];
        let found = Scanner::new(&store(), None).scan_bytes(&data);
        assert!(found.runs_overflowed && found.runs.is_empty());
    }

    #[test]
    fn name_shaped_like_store_basename_is_a_reference() {
        let found = Scanner::new(&store(), None).scan_name(format!("{H1}-foo.drv").as_bytes());
        assert_eq!(found.prefixed[0].name, "foo.drv");
    }
}
