# npm_deps DIR PACKAGE_JSON: the pinned test-only npm packages of
# PACKAGE_JSON installed into DIR/node_modules, once per change of the file
# (test set-up in the build tree, never at run time). Sourced by the tests
# that read dyn4d's output with independent JavaScript readers.
npm_deps() {
  local dir=$1 package=$2
  if [ ! -f "$dir/.installed" ] || ! cmp -s "$package" "$dir/package.json"; then
    mkdir -p "$dir"
    cp "$package" "$dir/package.json"
    rm -f "$dir/.installed"
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error) || return 1
    touch "$dir/.installed"
  fi
}
