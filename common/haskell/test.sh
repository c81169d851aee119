#!/bin/sh
# Build the contract library and run its unit tests (hspec), offline against Debian's GHC
# packages (no Hackage; see haskell/README.md). Run from anywhere: sh common/haskell/test.sh
set -eu
cd "$(dirname "$0")"
export CABAL_CONFIG="$PWD/cabal.config-offline"
export CABAL_DIR="$PWD/dist-newstyle/cabal-dir"
cabal test -v0 --enable-tests --ghc-options=-Werror --test-show-details=direct spec
