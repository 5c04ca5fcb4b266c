# The builder of every stand-in mkDerivation, as nixpkgs' default-builder.sh: the structured
# attributes first (Nix writes them when __structuredAttrs is set), then stdenv's setup, then
# the phases.
if [ -e "${NIX_ATTRS_SH_FILE-}" ]; then
    # shellcheck disable=SC1090
    . "$NIX_ATTRS_SH_FILE"
elif [ -f .attrs.sh ]; then
    # shellcheck disable=SC1091
    . .attrs.sh
fi
# shellcheck disable=SC1091
source "$stdenv/setup"
genericBuild
