//! The store-path grammar: `STORE_DIR/` + 32 characters of Nix's base-32 alphabet + `-` + name.
//!
//! Nix's reference scanner matches the 32 hash characters alone, wherever they stand, so the
//! hash is the unit everything else in this crate keys on.

use std::fmt;
use std::path::PathBuf;

/// Length of the hash part of a store path.
pub const HASH_LEN: usize = 32;

/// Nix's base-32 alphabet. `e`, `o`, `u` and `t` are left out, which is why a hash
/// overwritten with `e` can never be mistaken for a digest again.
pub const NIX32_ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// The byte that replaces every hash character when a reference is neutralised.
pub const NEUTRAL_BYTE: u8 = b'e';

/// Longest store-path name Nix accepts; bounds how far a name is read after the hash.
pub const MAX_NAME_LEN: usize = 211;

const fn alphabet_table() -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < NIX32_ALPHABET.len() {
        table[NIX32_ALPHABET[i] as usize] = true;
        i += 1;
    }
    table
}

static IS_NIX32: [bool; 256] = alphabet_table();

/// Whether `byte` is in [`NIX32_ALPHABET`].
#[inline]
pub fn is_nix32(byte: u8) -> bool {
    IS_NIX32[byte as usize]
}

/// Characters Nix allows in a store-path name.
#[inline]
pub fn is_name_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'-' | b'.' | b'_' | b'?' | b'=')
}

/// The 32-character hash part of a store path.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreHash([u8; HASH_LEN]);

impl StoreHash {
    /// Accepts exactly 32 bytes of the Nix32 alphabet.
    pub fn from_bytes(bytes: &[u8]) -> Option<StoreHash> {
        if bytes.len() != HASH_LEN || !bytes.iter().all(|&b| is_nix32(b)) {
            return None;
        }
        let mut hash = [0u8; HASH_LEN];
        hash.copy_from_slice(bytes);
        Some(StoreHash(hash))
    }

    /// The 32 hash characters, ASCII.
    pub fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// The hash as it stands in a store path.
    pub fn as_str(&self) -> &str {
        // Only Nix32 bytes ever get in, and they are ASCII.
        std::str::from_utf8(&self.0).expect("Nix32 is ASCII")
    }
}

impl fmt::Display for StoreHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for StoreHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreHash({})", self.as_str())
    }
}

/// The store directory references are searched under, without a trailing slash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreDir {
    /// `STORE_DIR/`, the byte string that starts every prefixed reference.
    prefix: Vec<u8>,
}

impl StoreDir {
    /// Nix's own default, used when neither `--store-dir` nor the environment names one.
    pub const DEFAULT: &'static str = "/nix/store";

    /// `dir` must be absolute; trailing slashes are dropped. The error is a sentence for the
    /// user.
    pub fn new(dir: &str) -> Result<StoreDir, String> {
        let trimmed = dir.trim_end_matches('/');
        if !trimmed.starts_with('/') {
            return Err(format!("store directory must be an absolute path: {dir:?}"));
        }
        let mut prefix = trimmed.as_bytes().to_vec();
        prefix.push(b'/');
        Ok(StoreDir { prefix })
    }

    /// `--store-dir` when given, else `NIX_STORE_DIR`, else `NIX_STORE` (what Nix sets in
    /// builders), else `/nix/store` — the order Nix itself resolves its store directory in.
    pub fn resolve(explicit: Option<&str>) -> Result<StoreDir, String> {
        if let Some(dir) = explicit {
            return StoreDir::new(dir);
        }
        for var in ["NIX_STORE_DIR", "NIX_STORE"] {
            if let Ok(value) = std::env::var(var) {
                if !value.is_empty() {
                    return StoreDir::new(&value).map_err(|e| format!("{var}: {e}"));
                }
            }
        }
        StoreDir::new(Self::DEFAULT)
    }

    /// `STORE_DIR/` with its trailing slash.
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// The directory without a trailing slash (`/nix/store`), as Nix names it.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.prefix[..self.prefix.len() - 1]).expect("built from a str")
    }

    /// Parses `STORE_DIR/HASH-NAME[/...]` into its hash and name.
    pub fn parse_path(&self, path: &str) -> Option<(StoreHash, String)> {
        let rest = path.as_bytes().strip_prefix(self.prefix.as_slice())?;
        let hash = StoreHash::from_bytes(rest.get(..HASH_LEN)?)?;
        if rest.get(HASH_LEN) != Some(&b'-') {
            return None;
        }
        let name: Vec<u8> = rest[HASH_LEN + 1..]
            .iter()
            .copied()
            .take_while(|&b| b != b'/')
            .collect();
        if name.is_empty() || !name.iter().all(|&b| is_name_char(b)) {
            return None;
        }
        Some((hash, String::from_utf8(name).expect("name chars are ASCII")))
    }

    /// The full store path for a hash and name, as the user would recognise it.
    pub fn path_of(&self, hash: &StoreHash, name: &str) -> PathBuf {
        let mut s = String::from(self.as_str());
        s.push('/');
        s.push_str(hash.as_str());
        if !name.is_empty() {
            s.push('-');
            s.push_str(name);
        }
        PathBuf::from(s)
    }
}

/// Reads the store-path name that follows `HASH-`, stopping at the first byte Nix does
/// not allow in a name or at [`MAX_NAME_LEN`].
pub fn name_after(bytes: &[u8]) -> String {
    let len = bytes
        .iter()
        .take(MAX_NAME_LEN)
        .take_while(|&&b| is_name_char(b))
        .count();
    String::from_utf8(bytes[..len].to_vec()).expect("name chars are ASCII")
}

/// What the unit tests of several modules share: two valid hashes and the default store.
#[cfg(test)]
pub(crate) mod testing {
    use super::{StoreDir, StoreHash};

    pub const H1: &str = "0c0s8w0wxyg2yyrb8iv5k1m6kv3bvhfz";
    pub const H2: &str = "9dkwkm28zyrjwsd4sxb1d3m0aqwc6rs4";

    pub fn store() -> StoreDir {
        StoreDir::new("/nix/store").unwrap()
    }

    pub fn hash(s: &str) -> StoreHash {
        StoreHash::from_bytes(s.as_bytes()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0c0s8w0wxyg2yyrb8iv5k1m6kv3bvhfz";

    #[test]
    fn alphabet_excludes_e_o_u_t() {
        for b in [b'e', b'o', b'u', b't', b'A', b'-', b'/'] {
            assert!(!is_nix32(b), "{}", b as char);
        }
        assert_eq!(NIX32_ALPHABET.iter().filter(|&&b| is_nix32(b)).count(), 32);
    }

    #[test]
    fn parses_store_path_with_subpath() {
        let store = StoreDir::new("/nix/store/").unwrap();
        let (hash, name) = store
            .parse_path(&format!("/nix/store/{H}-python3-3.11.7/bin/python"))
            .unwrap();
        assert_eq!(hash.as_str(), H);
        assert_eq!(name, "python3-3.11.7");
    }

    #[test]
    fn rejects_neutralised_and_foreign_paths() {
        let store = StoreDir::new("/nix/store").unwrap();
        assert!(store
            .parse_path(&format!("/nix/store/{}-x", "e".repeat(32)))
            .is_none());
        assert!(store.parse_path(&format!("/gnu/store/{H}-x")).is_none());
        assert!(store.parse_path(&format!("/nix/store/{H}")).is_none());
    }

    #[test]
    fn relative_store_dir_is_refused() {
        assert!(StoreDir::new("nix/store").is_err());
    }

    #[test]
    fn name_stops_at_non_name_byte() {
        assert_eq!(name_after(b"libxml2-2.13/lib"), "libxml2-2.13");
        assert_eq!(name_after(b"foo\0bar"), "foo");
    }
}
