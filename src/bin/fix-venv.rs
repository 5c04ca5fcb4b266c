use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use fixup_hooks::shared::cli;
use fixup_hooks::shared::report::{self, ReportFormat};
use fixup_hooks::strip::cli::SelectionArgs;
use fixup_hooks::venv::entry_points::is_dotted;
use fixup_hooks::venv::report::VenvReport;
use fixup_hooks::venv::{diff, prepare, restore};

/// Make a uv virtualenv reproducible inside a Nix fixed-output derivation, then whole again
/// in its final place.
///
/// The two halves run in different derivations:
///
///   1. `prepare VENV` in the FOD, after `uv sync` and before strip-store-refs: removes what
///      differs between builds (bytecode, uv's .lock and uv_cache.json).
///
///   2. `restore --python PYTHON VENV` in the main derivation, after the tree is copied to
///      its final place (usually $out) and strip-store-refs has neutralised its references:
///      re-links bin/python, rewrites pyvenv.cfg and regenerates every script.
///
/// When a rebuild of the FOD gives another hash, `diff OLD NEW` says what differs and why.
///
/// Exit status: 0 done; 1 an error occurred (printed with its path); 2 the command line was
/// wrong. `diff` has its own: see `fix-venv diff --help`.
#[derive(Parser, Debug)]
#[command(name = "fix-venv", version, max_term_width = 100)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// In the fixed-output derivation, after `uv sync`, before strip-store-refs: remove
    /// __pycache__ directories, *.pyc, uv's .lock and uv_cache.json files (and their RECORD
    /// lines); zero the debug info of ELF files uv built from source and recompute their
    /// build-id. Refuses a file two distributions install with different contents until
    /// --drop names it. Keeps bin/ and everything else. Prints what it changed and why.
    Prepare {
        /// Remove this file (relative to site-packages, e.g. docs/Makefile) and its line
        /// from every RECORD listing it: how to settle two distributions installing one
        /// path (repeatable).
        #[arg(long = "drop", value_name = "PATH", value_parser = relative_path)]
        drop: Vec<PathBuf>,
        /// The venv (the FOD's output).
        #[arg(value_name = "VENV")]
        venv: PathBuf,
        #[command(flatten)]
        common: Common,
        /// The selection strip-store-refs will be given after this (the hooks pass both
        /// the same): the RECORD digests of the files it will change are blanked.
        #[command(flatten, next_help_heading = "What strip-store-refs will neutralise")]
        select: SelectionArgs,
    },
    /// In the main derivation, once the venv is in its final place and its store references
    /// are neutralised: link bin/python to PYTHON (python3, python3.X to python), set
    /// pyvenv.cfg's home and version_info from PYTHON, regenerate every console and GUI
    /// script of every *.dist-info with uv's template and a shebang naming VENV/bin/python,
    /// re-point other Python scripts and the activators at VENV, and update RECORD.
    /// Running it twice changes nothing.
    Restore {
        /// The interpreter the venv is for, e.g. ${python}/bin/python3.11; run once to ask
        /// its version. Its site-packages directory name must match the venv's.
        #[arg(long, value_name = "PYTHON")]
        python: PathBuf,
        /// Install a pure-Python workspace member that `uv sync --no-install-workspace`
        /// left out: its import package (flat or src/ layout) and a NAME-VERSION.dist-info
        /// with the scripts of its pyproject.toml (repeatable).
        #[arg(long = "install-source", value_name = "DIR")]
        install_source: Vec<PathBuf>,
        /// Compile site-packages with PYTHON's compileall, --invalidation-mode
        /// unchecked-hash: the same bytes on every build, never rewritten at import.
        #[arg(long)]
        compile_bytecode: bool,
        /// After restoring, `VENV/bin/python -c "import MODULE"` must succeed (repeatable).
        #[arg(long = "check-import", value_name = "MODULE", value_parser = module_name)]
        check_import: Vec<String>,
        /// The venv in its final place (usually $out).
        #[arg(value_name = "VENV")]
        venv: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Compare two builds of one tree (say the FOD's output and the copy `nix-build --check
    /// --keep-failed` leaves) and explain each difference: why did my FOD's hash change?
    ///
    /// Entries are paired by path and every difference a NAR would see is listed, sorted by
    /// path: only in OLD or NEW, type, mode (Nix keeps only a file's executable bit; each mode
    /// difference says whether it counts), symlink target, contents. For contents it names the
    /// likely causes: bytecode, debug_info, build_id, build_directory, install_order_clash,
    /// timestamp, record or unknown, with the differing strings where they help. Changes
    /// nothing.
    ///
    /// Exit status: 0 the trees are the same; 1 they differ (the differences printed); 2 the
    /// command line was wrong (or OLD or NEW does not exist); 3 part of a tree could not be
    /// read (each error printed with its path) or the report could not be written, so the
    /// answer is incomplete.
    Diff {
        /// The first build (a directory, or a single file).
        #[arg(value_name = "OLD")]
        old: PathBuf,
        /// The second build.
        #[arg(value_name = "NEW")]
        new: PathBuf,
        /// Print the report on stdout in this format instead of the plain listing.
        #[arg(long, value_enum, value_name = "FORMAT")]
        report: Option<ReportFormat>,
    },
}

#[derive(clap::Args, Debug)]
struct Common {
    /// Change nothing; print the plan on stdout, one change a line.
    #[arg(long)]
    dry_run: bool,
    /// Also print the report on stdout in this format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    report: Option<ReportFormat>,
}

fn relative_path(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    if s.is_empty() || path.is_absolute() {
        Err(format!("{s:?} is not a path relative to site-packages"))
    } else {
        Ok(path)
    }
}

fn module_name(s: &str) -> Result<String, String> {
    if is_dotted(s) {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} is not a dotted module name"))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    // prepare's strip planner, restore's RECORD check and diff work in parallel: on the
    // cores the build was granted (NIX_BUILD_CORES), as the other tools do.
    cli::init_pool(cli::jobs(None));
    let (report, common): (VenvReport, Common) = match args.command {
        Cmd::Diff {
            old,
            new,
            report: format,
        } => {
            if let Err(exit) = cli::require_paths("fix-venv", [&old, &new]) {
                return exit.into();
            }
            return report::finish(&diff::run(&old, &new), format, true).into();
        }
        Cmd::Prepare {
            drop,
            select,
            venv,
            common,
        } => {
            if let Err(exit) = cli::require_paths("fix-venv", [&venv]) {
                return exit.into();
            }
            let options = prepare::PrepareOptions {
                drop,
                select,
                dry_run: common.dry_run,
            };
            (prepare::run(&venv, &options), common)
        }
        Cmd::Restore {
            python,
            install_source,
            compile_bytecode,
            check_import,
            venv,
            common,
        } => {
            let given = std::iter::once(&venv)
                .chain([&python])
                .chain(&install_source);
            if let Err(exit) = cli::require_paths("fix-venv", given) {
                return exit.into();
            }
            let options = restore::RestoreOptions {
                python,
                install_sources: install_source,
                compile_bytecode,
                check_imports: check_import,
                dry_run: common.dry_run,
            };
            (restore::run(&venv, &options), common)
        }
    };

    report::finish(&report, common.report, common.dry_run).into()
}
