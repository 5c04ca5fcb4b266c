//! The arguments that decide which references strip-store-refs neutralises. `fix-venv
//! prepare` takes the same ones, so that it knows which files the strip will change (their
//! RECORD digests must be blanked) from strip-store-refs' own planner, never from a guess of
//! its own. The setup hooks hand both tools the same values.

use super::select::{self, SelectError, Selection};
use crate::shared::store::StoreDir;

/// `-t`, `--keep`, `--also-hash`, `--env-candidates` (`#[command(flatten)]` them).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct SelectionArgs {
    /// Neutralise only this store path (repeatable), like remove-references-to -t.
    #[arg(short = 't', long = "target", value_name = "STORE_PATH")]
    pub targets: Vec<String>,

    /// Leave references to these alone (repeatable): a store path, a bare hash, or a glob on
    /// the store path's name, e.g. '*-python3-*' or 'glibc-*'.
    #[arg(long, value_name = "PATTERN")]
    pub keep: Vec<String>,

    /// Also neutralise this hash wherever it stands, e.g. the output's own (repeatable).
    /// Takes a bare hash or a store path.
    #[arg(long = "also-hash", value_name = "HASH")]
    pub also_hash: Vec<String>,

    /// Also neutralise the hashes of the store paths named in the environment (and in
    /// $NIX_ATTRS_JSON_FILE, a build's structured attributes) wherever they stand, bare ones
    /// included: in a Nix build these are its inputs and outputs, which Nix's scanner looks
    /// for. Ignored for paths outside -t when -t is given.
    #[arg(long)]
    pub env_candidates: bool,
}

impl SelectionArgs {
    /// The selection these arguments describe, for `store`; the environment is read here
    /// when `--env-candidates` asks for it.
    pub fn selection(&self, store: &StoreDir) -> Result<Selection, SelectError> {
        let mut selection = Selection::new(store, &self.targets, &self.also_hash, &self.keep)?;
        if self.env_candidates {
            selection.add_candidates(select::environment_hashes(store));
        }
        Ok(selection)
    }
}
