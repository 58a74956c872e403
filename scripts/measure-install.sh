#!/usr/bin/env bash
# What `npm install s3-ipfs-gateway` costs a library user: installs the packed package into an empty
# project with an empty npm cache (so every package is downloaded), and prints the packages installed,
# the size of node_modules and the seconds `npm install` took.
#
#   scripts/measure-install.sh [--ignore-scripts] [package.tgz]
#
# Without a tarball it runs `npm pack` here first (which builds dist/). --ignore-scripts skips install
# scripts, i.e. better-sqlite3's native build (from source when no prebuilt binary can be downloaded).
set -euo pipefail

flags=()
tarball=''
for arg in "$@"; do
  case "$arg" in
    --ignore-scripts) flags+=(--ignore-scripts) ;;
    *) tarball="$(realpath "$arg")" ;;
  esac
done

if [ -z "$tarball" ]; then
  packdir="$(mktemp -d)"
  (cd "$(dirname "$0")/.." && npm pack --silent --pack-destination "$packdir" >/dev/null)
  tarball="$(ls "$packdir"/*.tgz)"
fi

project="$(mktemp -d)"
cache="$(mktemp -d)"
trap 'rm -rf "$project" "$cache"' EXIT
cd "$project"
echo '{ "name": "empty-project", "version": "1.0.0", "private": true }' > package.json

start=$(date +%s.%N)
npm install --no-audit --no-fund --loglevel=error --cache "$cache" "${flags[@]}" "$tarball" >/dev/null
end=$(date +%s.%N)

# Every installed package, nested ones included, as npm recorded them.
packages=$(node -e 'console.log(Object.keys(require("./node_modules/.package-lock.json").packages).length)')
mb=$(du -sm node_modules | cut -f1)
seconds=$(node -e "console.log(($end - $start).toFixed(1))")
echo "packages=$packages MB=$mb seconds=$seconds tarball=$(basename "$tarball") ${flags[*]}"
