use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use fixup_hooks::shared::cli::{self, CommonArgs};
use fixup_hooks::shared::report;
use fixup_hooks::strip::cli::SelectionArgs;
use fixup_hooks::strip::{self, StripMode, StripOptions};

const TOOL: &str = "strip-store-refs";

/// Find every Nix store reference in trees and neutralise it in place.
///
/// A reference is STORE_DIR/ followed by a 32-character Nix32 hash and `-`. Neutralising
/// overwrites the 32 hash characters with `e` (not in the Nix32 alphabet), so sizes and
/// offsets stay as they were and a second run finds nothing. References are looked for where
/// Nix looks for them: file contents, symlink targets (the link is re-created beside it as
/// .strip-store-refs.PID.N and renamed over it; such links a killed run left are removed) and
/// names (reported as errors, never renamed). Every hash being neutralised is also neutralised
/// where it stands bare, without the store directory, because Nix counts those too.
///
/// Exit status: 0 done; 1 an error occurred (each printed with its path) or, with --check,
/// references remain; 2 the command line was wrong.
#[derive(Parser, Debug)]
#[command(name = "strip-store-refs", version, max_term_width = 100)]
struct Args {
    /// Trees (or single files) to rewrite in place; symlinks are never followed.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,

    #[command(flatten)]
    select: SelectionArgs,

    /// Change nothing; list each reference that would be neutralised.
    #[arg(long, conflicts_with = "check")]
    dry_run: bool,

    /// Change nothing; list each remaining reference as FILE:OFFSET STORE_PATH and exit 1
    /// if there is any.
    #[arg(long)]
    check: bool,

    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let usage = |message: String| cli::usage(TOOL, message).into();
    let store = match args.common.store() {
        Ok(store) => store,
        Err(e) => return usage(e),
    };
    let selection = match args.select.selection(&store) {
        Ok(selection) => selection,
        Err(e) => return usage(e.to_string()),
    };
    if let Err(exit) = cli::require_paths(TOOL, &args.paths) {
        return exit.into();
    }
    let mode = match (args.dry_run, args.check) {
        (true, _) => StripMode::DryRun,
        (_, true) => StripMode::Check,
        _ => StripMode::Strip,
    };
    args.common.init_pool();

    let report = strip::run(
        &args.paths,
        &StripOptions {
            store,
            selection,
            mode,
        },
    );
    report::finish(&report, args.common.report, mode != StripMode::Strip).into()
}
