# After tree-venv.sh: two modules of pkg naming store paths, listed in its RECORD with their
# digests as uv writes them — pkg/a.py names $dep, pkg/b.py names $other.
echo "A = '$dep/lib/x'" > "$site/pkg/a.py"
echo "B = '$other/lib/x'" > "$site/pkg/b.py"
{ record pkg/a.py; record pkg/b.py; } >> "$site/pkg-1.0.dist-info/RECORD"
