# C libraries for the offline stand-ins, made of Debian bookworm packages: each one store path
# laid out as nixpkgs' library output is (./debian-lib.sh), so a uv project's sdists compile
# against it and patch-rpaths finds it, as with nixpkgs' own. Named after nixpkgs' attributes.
#
#   mkDrv  nix/offline's plain-derivation helper
#   debs   a directory holding the .deb files (scripts/e2e-large downloads them with
#          apt-get download); imported into the store, so other files are other inputs
{ mkDrv, debs }:
let
  lib =
    name: packages: attrs:
    mkDrv name ./debian-lib.sh ({ inherit debs packages; } // attrs);
in
{
  # The package names each library needs, for `apt-get download`.
  packages = [
    "libpq5" "libpq-dev"
    "libmariadb3" "libmariadb-dev" "libmariadb-dev-compat"
    "libxml2" "libxml2-dev"
    "libxslt1.1" "libxslt1-dev"
    "libicu-dev"
    "libstdc++6" "libgcc-s1"
    "zlib1g"
  ];

  # libpq, with a pg_config that names this path (psycopg-c's build asks it).
  libpq = lib "libpq-15" "libpq5 libpq-dev" { pgConfig = "15"; };
  mariadb-connector-c = lib "mariadb-connector-c-3.3" "libmariadb3 libmariadb-dev libmariadb-dev-compat" { };
  libxml2 = lib "libxml2-2.9.14" "libxml2 libxml2-dev" { };
  libxslt = lib "libxslt-1.1.35" "libxslt1.1 libxslt1-dev" { };
  # Only ICU's headers: Debian's libxml2 headers include <unicode/ucnv.h>.
  icu-headers = lib "icu-headers-72" "libicu-dev" { onlyInclude = "unicode"; };
  # libstdc++.so.6 and libgcc_s.so.1, as nixpkgs' stdenv.cc.cc.lib.
  gcc-lib = lib "gcc-12-lib" "libstdc++6 libgcc-s1" { };
  zlib = lib "zlib-1.2.13" "zlib1g" { };
}
