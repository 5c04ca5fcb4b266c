# Builder of the stand-in stdenv: $out/setup is ./setup.sh after the lines naming the initial
# PATH and the default inputs, as nixpkgs' stdenv writes its setup.
mkdir "$out"
{
    echo "initialPath=\"$initialPath\""
    echo "defaultNativeBuildInputs=\"$defaultNativeBuildInputs\""
    echo "defaultBuildInputs=\"\""
    cat "$setup"
} >"$out/setup"
