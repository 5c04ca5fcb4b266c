# The crate's unit tests (a static binary: nothing to load from the host) run by Nix in its
# build sandbox, as nixpkgs' build of nix/package.nix runs them (tests/hooks/flake.rs). The
# builder is /bin/sh, the only host path the sandbox shows (sandbox-paths; bash-static).
#
#   unitTests  absolute path of the static unit-test binary
#   nonce      fresh per run, so the tests run every time
{ unitTests, nonce }:
derivation {
  name = "fixup-hooks-unit-tests";
  system = builtins.currentSystem;
  inherit nonce;
  builder = "/bin/sh";
  args = [ "-e" ./run-unit-tests.sh ];
  tests = builtins.path {
    path = /. + unitTests;
    name = "unit-tests";
  };
}
