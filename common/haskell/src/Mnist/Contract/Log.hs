-- | The log lines (SPEC.md §6): one typed function per event, each printing one logfmt line
-- on stdout (line-buffered by 'Mnist.Contract.Errors.runMain', so flushed as printed).
-- Losses, accuracies and probabilities have six decimals, seconds three.
module Mnist.Contract.Log
  ( logStart
  , logConfig
  , logData
  , logWarmup
  , logEpoch
  , logTest
  , logPredict
  , logLine
  , bestClass
  ) where

import Data.Version (showVersion)
import qualified Data.Vector.Storable as VS
import Mnist.Contract.Cli (Config (..))
import Mnist.Contract.Format (fixed, pyRepr)
import Mnist.Contract.Idx (Splits (..))
import System.Info (fullCompilerVersion)

-- | One logfmt line as text: @event=<name>@, then the fields in order.
logLine :: String -> [(String, String)] -> String
logLine event fields = unwords (("event=" ++ event) : [k ++ "=" ++ v | (k, v) <- fields])

emit :: String -> [(String, String)] -> IO ()
emit event fields = putStrLn (logLine event fields)

-- | @start@: the row, its framework (name/version) and device; the language is this GHC.
logStart :: String -> String -> String -> IO ()
logStart row framework device =
  emit "start" [ ("row", row), ("language", "haskell/ghc-" ++ showVersion fullCompilerVersion)
               , ("framework", framework), ("device", device) ]

-- | @config@: the flags that shape the run.
logConfig :: Config -> IO ()
logConfig cfg =
  emit "config" [ ("dataset", dataset cfg), ("epochs", show (epochs cfg)), ("batch_size", show (batchSize cfg))
                , ("lr", pyRepr (lr cfg)), ("momentum", pyRepr (momentum cfg)), ("seed", show (seed cfg))
                , ("limit_train", show (limitTrain cfg)), ("shuffle", flag (shuffle cfg))
                , ("init", flag (initFile cfg /= Nothing)) ]

-- | @data@: the example counts of each split and the seconds spent reading them.
logData :: Splits images -> Double -> IO ()
logData splits seconds =
  emit "data" [ ("train", show (VS.length (trainY splits))), ("val", show (VS.length (valY splits)))
              , ("test", show (VS.length (testY splits))), ("seconds", fixed 3 seconds) ]

-- | @warmup@: seconds of compilation or tracing before epoch 1.
logWarmup :: Double -> IO ()
logWarmup seconds = emit "warmup" [("seconds", fixed 3 seconds)]

-- | @epoch@: epoch (from 1), train_loss, train_acc, val_loss, val_acc, seconds.
logEpoch :: Int -> Double -> Double -> Double -> Double -> Double -> IO ()
logEpoch epoch trainLoss trainAcc valLoss valAcc seconds =
  emit "epoch" [ ("epoch", show epoch), ("train_loss", fixed 6 trainLoss), ("train_acc", fixed 6 trainAcc)
               , ("val_loss", fixed 6 valLoss), ("val_acc", fixed 6 valAcc), ("seconds", fixed 3 seconds) ]

-- | @test@: test_loss, test_acc, seconds.
logTest :: Double -> Double -> Double -> IO ()
logTest testLoss testAcc seconds =
  emit "test" [("test_loss", fixed 6 testLoss), ("test_acc", fixed 6 testAcc), ("seconds", fixed 3 seconds)]

-- | @predict@: an image's index, its class (the most probable digit, the lowest on a tie) and
-- its ten probabilities.
logPredict :: Int -> [Float] -> IO ()
logPredict index probabilities =
  emit "predict" $ ("index", show index) : ("class", show (bestClass probabilities))
    : [("p" ++ show d, fixed 6 (realToFrac p)) | (d, p) <- zip [0 :: Int ..] probabilities]

-- | The index of the largest value, the lowest on a tie.
bestClass :: [Float] -> Int
bestClass [] = 0
bestClass ps = length (takeWhile (< maximum ps) ps)

flag :: Bool -> String
flag b = if b then "1" else "0"
