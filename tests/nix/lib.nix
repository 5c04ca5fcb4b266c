# Plumbing shared by tests/nix/strip/common.nix and tests/nix/patch/common.nix
# (each explains `nonce` and its tool arguments).
{ nonce }:
rec {
  system = builtins.currentSystem;

  # A plain derivation: no nixpkgs here, only /bin/sh and the host's tools.
  # `nonce` goes into its environment, so each test run builds new store
  # paths. The builder gets a script file; an inline `-c` script gets killed
  # on Nix 2.8 (shared/research/nix-2.8-here.md).
  mkDrv = name: script: attrs: derivation ({
    inherit name system nonce;
    builder = "/bin/sh";
    args = [ "-e" script ];
    PATH = "/usr/bin:/bin";
  } // attrs);

  # A binary under test, copied into the store with builtins.path: a
  # different binary is a different input and rebuilds whatever runs it.
  tool = name: path: builtins.path { inherit name path; };
}
