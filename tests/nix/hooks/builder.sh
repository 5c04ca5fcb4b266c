# Builder of every derivation under test (default.nix `case`): source the stand-in stdenv
# (nix/offline/setup.sh, which sources the hooks in $nativeBuildInputs), write the trees
# named in $trees into the outputs, then run fixupPhase, where the hooks do their work.
# shellcheck disable=SC1090
source "$stdenvSetup"
for tree in $trees; do
    source "$tree"
done
fixupPhase
