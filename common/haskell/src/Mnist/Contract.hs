-- | The contract of SPEC.md for Haskell rows, in one import: flags ('parseConfig'), the data
-- ('loadMnist', 'readImages'), the weights file ('loadWeights', 'saveWeights'), the epoch's
-- batches ('epochBatches'), the log lines ('logEpoch', …), progress lines ('progressTrain', …)
-- and errors and exit statuses ('runMain', 'checkFinite').
module Mnist.Contract
  ( -- * Flags (SPEC.md §4)
    Config (..)
  , parseConfig
    -- * Data (SPEC.md §1)
  , Images (..)
  , Labels
  , Splits (..)
  , loadMnist
  , readImages
    -- * The epoch's batches (SPEC.md §3)
  , epochBatches
    -- * Weights file (SPEC.md §5)
  , Tensors
  , tensorShapes
  , loadWeights
  , saveWeights
    -- * Log lines (SPEC.md §6)
  , logStart
  , logConfig
  , logData
  , logWarmup
  , logEpoch
  , logTest
  , logPredict
    -- * Progress lines (SPEC.md §6, stderr)
  , progressStart
  , progressData
  , progressWarmup
  , progressTrain
    -- * Errors and exit statuses (SPEC.md §7)
  , Failure (..)
  , usageError
  , dataError
  , checkFinite
  , runMain
  ) where

import Mnist.Contract.Batches
import Mnist.Contract.Cli
import Mnist.Contract.Errors
import Mnist.Contract.Idx
import Mnist.Contract.Log
import Mnist.Contract.Progress
import Mnist.Contract.Weights
