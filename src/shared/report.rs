//! What a run did, as data: rendered as a short summary for people and as JSON for tools.
//! Everything in it is sorted, so two runs over the same tree print the same bytes.

use std::io::{self, Write};

use serde::Serialize;

/// Formats a byte count for people (`523.4 MiB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `1 file`, `2 files`; `1 directory`, `2 directories`.
pub fn count(n: u64, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {noun}s"),
    }
}

/// An error that did not stop the run, with the path it concerns.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ErrorEntry {
    pub path: String,
    pub message: String,
}

/// One line per temporary entry a killed run left.
pub fn write_leftovers(
    out: &mut dyn Write,
    tool: &str,
    removed: bool,
    leftovers: &[String],
) -> io::Result<()> {
    let verb = if removed { "removed" } else { "would remove" };
    for path in leftovers {
        writeln!(out, "{tool}: {verb} {path}: left by a killed run")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_picks_unit() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
    }
}
