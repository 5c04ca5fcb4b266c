//! The scripts fix-venv writes are uv 0.13.9's, byte for byte: every entry point of every
//! dist-info in venvs made by real uv, including the `/bin/sh` exec form (a path past 127
//! bytes, a path with a space) and a `#!python` data script.

use std::path::Path;

use crate::support::venv::fixture;
use fixup_hooks::venv::entry_points;
use fixup_hooks::venv::script;

/// Renders every entry point of `venv` and compares with what uv wrote; returns how many.
fn assert_same_as_uv(venv: &Path) -> usize {
    let site = venv.join("lib/python3.11/site-packages");
    let executable = venv.join("bin/python");
    let executable = executable.to_str().unwrap();
    let mut compared = 0;
    let mut dist_infos: Vec<_> = std::fs::read_dir(&site)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "dist-info"))
        .collect();
    dist_infos.sort();
    for dist_info in dist_infos {
        let Ok(text) = std::fs::read(dist_info.join("entry_points.txt")) else {
            continue;
        };
        let parsed = entry_points::parse(&text, 11);
        assert!(parsed.refused.is_empty(), "{:?}", parsed.refused);
        for entry in &parsed.scripts {
            let ours = script::render(entry, executable, false);
            let uvs = std::fs::read(venv.join("bin").join(&entry.name)).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&uvs),
                "{} of {}",
                entry.name,
                dist_info.display()
            );
            compared += 1;
        }
    }
    // The `#!python` data script: uv swaps the first line for its shebang.
    let source = std::fs::read(fixture().tool.join("scripts/fixture-py")).unwrap();
    let ours = script::reshebang(&source, executable, false).unwrap();
    assert_eq!(ours, std::fs::read(venv.join("bin/fixture-py")).unwrap());
    compared
}

#[test]
fn scripts_match_uv_byte_for_byte() {
    let fx = fixture();
    // fixture-cli, fixture-gui, markdown-it, pygmentize.
    assert_eq!(assert_same_as_uv(&fx.venv), 4);
}

#[test]
fn long_paths_match_uvs_sh_exec_form() {
    let fx = fixture();
    assert!(fx.long_venv.join("bin/python").as_os_str().len() + 3 > 127);
    assert_eq!(assert_same_as_uv(&fx.long_venv), 3);
    let head = std::fs::read_to_string(fx.long_venv.join("bin/pygmentize")).unwrap();
    assert!(head.starts_with("#!/bin/sh\n'''exec' '"), "{head}");
}

#[test]
fn paths_with_a_space_match_uvs_sh_exec_form() {
    let fx = fixture();
    assert!(fx.space_venv.to_str().unwrap().contains(' '));
    assert_eq!(assert_same_as_uv(&fx.space_venv), 2);
    let head = std::fs::read_to_string(fx.space_venv.join("bin/fixture-cli")).unwrap();
    assert!(head.starts_with("#!/bin/sh\n'''exec' '"), "{head}");
}
