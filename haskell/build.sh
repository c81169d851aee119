#!/bin/sh
# Build the Haskell row offline against Debian's GHC packages (no Hackage), then copy the
# executable to a fixed path, dist-newstyle/bin/mnist-haskell. Fast when nothing changed.
set -eu
cd "$(dirname "$0")"
# An empty cabal config: no package repository, so cabal resolves every dependency from the
# global package database that the libghc-*-dev packages fill; CABAL_DIR keeps ~/.cabal untouched.
export CABAL_CONFIG="$PWD/cabal.config-offline"
export CABAL_DIR="$PWD/dist-newstyle/cabal-dir"
cabal build -v0 --ghc-options=-Werror exe:mnist-haskell
mkdir -p dist-newstyle/bin
# Copy, then rename over the old binary: a rename is atomic, so a run that is using it is unaffected.
cp -p "$(cabal list-bin -v0 --ghc-options=-Werror exe:mnist-haskell)" dist-newstyle/bin/.mnist-haskell.new
mv -f dist-newstyle/bin/.mnist-haskell.new dist-newstyle/bin/mnist-haskell
