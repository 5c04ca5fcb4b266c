# An interpreter for patchShebangs to find on a build's inputs: bin/stdenv-test-interp.
mkdir -p "$out/bin"
printf '#!/bin/sh\nexec /bin/sh "$@"\n' > "$out/bin/stdenv-test-interp"
chmod +x "$out/bin/stdenv-test-interp"
