# Stand-in for stdenv's default hook reproducible-builds.sh: a compiler seed derived from
# the output path, for the C compiler wrapper (NIX_CFLAGS_COMPILE).

NIX_CFLAGS_COMPILE="${NIX_CFLAGS_COMPILE-} -frandom-seed=$(basename "${NIX_OUTPATH_USED_AS_RANDOM_SEED:-$out}" | cut -c1-10)"
export NIX_CFLAGS_COMPILE
